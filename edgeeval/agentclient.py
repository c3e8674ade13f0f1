"""The controller's side of the agent protocol (docs/architecture.md): push, probe, run a job.

Everything here goes through a Transport, so `local` and SSH boards share one code path.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from typing import Callable

from .errors import AgentError, RemoteCommandError
from .provenance import AGENT_PATH, agent_sha256
from .transport.base import PushReport, Transport

EventHandler = Callable[[dict], None]


@dataclass
class BoardSession:
    """A transport plus where things live on that board."""

    transport: Transport
    python: str
    workdir: str
    device: str
    remote: dict[str, str] = field(default_factory=dict)   # sha256 -> remote path
    pushes: list[PushReport] = field(default_factory=list)

    def __post_init__(self) -> None:
        # "~/.edgeeval" -> ".edgeeval": relative to the login directory, which is where both the
        # SFTP session and every remote command start, so cache, run outputs and downloads agree
        # (a quoted "~" is never expanded by a shell, and SFTP does not expand it at all)
        from .transport.boardcache import board_workdir

        self.workdir = board_workdir(self.workdir)

    def push(self, files: list[tuple[str, str, str]]) -> PushReport:
        """Ensure (local_path, sha256, suffix) files sit verified in the board cache; the agent always."""
        from .transport.boardcache import ensure_artifacts

        wanted = [(str(AGENT_PATH), agent_sha256(), ".py"), *files]
        todo = [f for f in wanted if f[1] not in self.remote]
        report = PushReport()
        if todo:
            mapping, report = ensure_artifacts(self.transport, self.python, self.workdir, todo)
            self.remote.update(mapping)
        self.pushes.append(report)
        return report

    @property
    def agent(self) -> str:
        return self.remote[agent_sha256()]

    def probe(self, sysfs_root: str | None = None) -> dict:
        """Run `agent.py probe`; return the facts dict (power sensors looked up under sysfs_root)."""
        if agent_sha256() not in self.remote:
            self.push([])
        argv = [self.python, self.agent, "probe", "--workdir", self.workdir]
        if sysfs_root:
            argv += ["--sysfs-root", sysfs_root]
        res = self.transport.run(argv, timeout=60)
        events = _parse_lines(res.stdout.decode("utf-8", "replace"))
        for ev in events:
            if ev.get("event") == "facts":
                return ev
            if ev.get("event") == "error":
                raise _agent_error(ev, self.device)
        stderr = res.stderr.decode("utf-8", "replace").strip()
        raise RemoteCommandError(
            f"the agent probe failed (exit status {res.exit_status}) with {self.python!r}: "
            f"{stderr.splitlines()[-1] if stderr else 'no output'}",
            device=self.device,
            hint="check the device's `python:` path in the inventory (python3 >= 3.8 is needed)")

    def run_job(self, job: dict, on_event: EventHandler | None = None,
                idle_timeout: float = 300.0) -> dict:
        """Run one job; stream events to on_event; return the `result` event."""
        result: dict | None = None
        error: dict | None = None
        stderr_tail: list[str] = []

        def on_stdout(line: str) -> None:
            nonlocal result, error
            line = line.strip()
            if not line:
                return
            try:
                ev = json.loads(line)
            except json.JSONDecodeError:
                stderr_tail.append(f"(non-protocol stdout) {line[:200]}")
                return
            kind = ev.get("event")
            if kind == "result":
                result = ev
            elif kind == "error":
                error = ev
            if on_event:
                on_event(ev)

        def on_stderr(line: str) -> None:
            stderr_tail.append(line.rstrip())
            del stderr_tail[:-40]

        status = self.transport.stream(
            [self.python, self.agent, "run"], stdin=json.dumps(job).encode(),
            on_stdout_line=on_stdout, on_stderr_line=on_stderr, idle_timeout=idle_timeout)
        if error is not None:
            raise _agent_error(error, self.device)
        if status != 0 or result is None:
            tail = "\n    ".join(stderr_tail[-15:]) or "(no stderr)"
            raise AgentError(
                f"the agent exited with status {status} without a result; its last stderr lines:\n    {tail}",
                device=self.device, remote_type="crash", remote_traceback="\n".join(stderr_tail))
        return result

    def fetch(self, remote: str, local: str) -> None:
        self.transport.get_file(remote, local)
        try:
            self.transport.remove(remote)
        except Exception:  # best effort: a leftover output file is harmless
            pass

    def run_dir(self, job_id: str) -> str:
        return posixpath.join(self.workdir, "runs", job_id)


def _parse_lines(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return out


def _agent_error(ev: dict, device: str) -> AgentError:
    tb = ev.get("traceback") or ""
    return AgentError(f"the agent failed: {ev.get('type', 'Error')}: {ev.get('message', '')}",
                      device=device, remote_type=ev.get("type", ""), remote_traceback=tb,
                      hint=ev.get("hint"))
