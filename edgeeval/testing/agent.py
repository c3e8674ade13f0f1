"""Run the bundled board agent directly, as a board would (for tests, also users' own):
`python agent.pyz run|probe` in a work directory, the job on stdin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple


class AgentRun(NamedTuple):
    events: list[dict]
    returncode: int
    stderr: str

    def event(self, name: str) -> dict:
        """The last event called `name` (e.g. "result"); fails with the agent's stderr if none."""
        found = [e for e in self.events if e.get("event") == name]
        if not found:
            raise AssertionError(f"the agent sent no {name!r} event (exit {self.returncode}); "
                                 f"events {[e.get('event') for e in self.events]}; stderr:\n{self.stderr[-4000:]}")
        return found[-1]


def run_agent(cwd: str | Path, args: Sequence[str] = ("run",), job: dict | str | None = None, *,
              python: str | Sequence[str] = sys.executable, env: dict | None = None,
              extra_env: dict | None = None, user: str | None = None, timeout: float = 60,
              complete: bool = True) -> AgentRun:
    """Run the agent in `cwd`; `job` (a dict is sent as JSON) goes to stdin. `env` replaces the
    environment, `extra_env` adds to the current one. A dict job is completed with the controller's
defaults first (`complete=False` sends it as it is). Every stdout line must be one JSON
    object carrying an "event" (the protocol's promise), else this fails."""
    from ..agent import agent_path

    agent = agent_path()
    if user is not None:  # another account cannot read the controller's home: a copy in the work dir
        bundle_copy = Path(cwd) / ".edgeeval-agent.pyz"
        bundle_copy.write_bytes(agent.read_bytes())
        bundle_copy.chmod(0o644)
        agent = bundle_copy
    cmd = [python] if isinstance(python, str) else list(python)
    if extra_env is not None:
        env = {**(os.environ if env is None else env), **extra_env}
    if isinstance(job, dict) and complete:   # as the controller sends it: every default filled in
        from ..jobdefaults import complete as complete_job

        job = complete_job(job)
    stdin = json.dumps(job) if isinstance(job, dict) else job
    proc = subprocess.run([*cmd, str(agent), *args], cwd=cwd, input=stdin, env=env, user=user,
                          capture_output=True, text=True, timeout=timeout)
    events = []
    for line in proc.stdout.splitlines():
        obj = json.loads(line)
        if not (isinstance(obj, dict) and "event" in obj):
            raise AssertionError(f"agent stdout line is not a protocol event: {line[:200]!r}")
        events.append(obj)
    return AgentRun(events, proc.returncode, proc.stderr)
