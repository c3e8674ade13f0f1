"""FakeTransport: a board in memory, for tests of code that drives boards (a plugin, a scheduler, a
farm step) without sshd and without a board.

    fake = FakeTransport("bench-pi")
    fake.fail("put_file", ConnectError("link cut", device="bench-pi"), after=1)   # the 2nd upload fails
    board = BoardSession(transport=fake, python="python3", workdir="~/.edgeeval", device="bench-pi")
    ...
    assert [c.argv[2] for c in fake.calls if c.method == "stream"] == ["run"]

Its file system is a dict (path -> bytes). It answers edgeeval's own board commands the way a
board does: the cache verify and clean scripts from those bytes, the agent's `probe` with
`facts`, and the agent's `run` with `on_job(job, files) -> events`. The default `on_job` runs the
real agent bundle in a subprocess over the pushed files in a scratch directory (real numbers of
this machine) and copies its outputs back; pass your own to script results or failures. Every
call is recorded in `calls`; `fail(method, error, after=n)` makes the (n+1)-th call of a method
raise, to test fault handling. Anything else run on it is an error (exit 127, like a missing
program), so a test notices a command it did not expect.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..transport.base import MAX_LINE_BYTES, CommandResult, LineHandler, LineSplitter, TransferResult, Transport
from ..transport.boardcache import CLEAN_SCRIPT, VERIFY_SCRIPT

OnJob = Callable[[dict, dict], list[dict]]


@dataclass
class Call:
    method: str
    argv: list[str] = field(default_factory=list)
    path: str | None = None
    stdin: bytes | None = None


def default_facts(name: str) -> dict:
    """A plausible board's probe answer (the controller's own python and runtimes)."""
    import platform

    import numpy
    import onnxruntime

    return {"event": "facts", "agent_version": "1.0.0", "agent_protocol": 1, "arch": platform.machine(),
            "os": {"system": "Linux", "release": "fake", "pretty_name": f"FakeTransport board {name}"},
            "hostname": name, "python": {"version": platform.python_version(), "executable": "python3"},
            "numpy": {"version": numpy.__version__},
            "runtimes": {"onnxruntime": {"version": onnxruntime.__version__,
                                         "providers": onnxruntime.get_available_providers()},
                         "ai_edge_litert": {"error": "not on this fake board"},
                         "tflite_runtime": {"error": "not on this fake board"},
                         "tensorflow": {"installed": False}},
            "cpu": {"model": "fake", "flags": None, "flags_reason": "a fake board", "logical_cores": 1},
            "memory": {"total_kb": 1 << 20, "available_kb": 1 << 19},
            "disk": {"free_bytes": 1 << 34, "total_bytes": 1 << 35}, "sensors": []}


class FakeTransport(Transport):
    def __init__(self, name: str = "fake", *, facts: dict | None = None, on_job: OnJob | None = None,
                 free_bytes: int = 1 << 34):
        self.name = name
        self.files: dict[str, bytes] = {}
        self.calls: list[Call] = []
        self.facts = facts
        self.on_job = on_job or run_real_agent
        self.free_bytes = free_bytes
        self.opened = self.closed = 0
        self._faults: dict[str, list] = {}

    # -- test controls ---------------------------------------------------------------------

    def fail(self, method: str, error: BaseException, after: int = 0) -> None:
        """The call of `method` after `after` more successful ones raises `error` (once)."""
        self._faults.setdefault(method, []).append([after, error])

    def _call(self, method: str, **kw) -> None:
        self.calls.append(Call(method, **kw))
        for fault in self._faults.get(method, []):
            if fault[0] == 0:
                self._faults[method].remove(fault)
                raise fault[1]
            fault[0] -= 1

    @staticmethod
    def _norm(remote: str) -> str:
        if remote.startswith("~/"):
            remote = remote[2:]
        return posixpath.normpath(remote)

    # -- the Transport interface -----------------------------------------------------------

    def open(self) -> None:
        self.opened += 1

    def close(self) -> None:
        self.closed += 1

    def run(self, argv: list[str], *, stdin: bytes | None = None, timeout: float | None = 60.0) -> CommandResult:
        argv = [str(a) for a in argv]
        self._call("run", argv=argv, stdin=stdin)
        if len(argv) >= 3 and argv[1] == "-c" and argv[2] == VERIFY_SCRIPT:
            hashes = {p: (hashlib.sha256(self.files[self._norm(p)]).hexdigest()
                          if self._norm(p) in self.files else None) for p in argv[6:]}
            out = {"hashes": hashes, "free_bytes": self.free_bytes, "swept": {"tmp": 0, "runs": 0, "freed_bytes": 0}}
            text = "\n" + json.dumps(out) + "\n"
            probe = json.loads(argv[5]) if argv[5] != "-" else None
            if probe and hashes.get(probe["agent"]) == probe["sha256"]:   # then the agent's probe, as the script does
                text += self._probe_line()
            return CommandResult(argv, 0, text.encode(), b"")
        if len(argv) >= 3 and argv[1] == "-c" and argv[2] == CLEAN_SCRIPT:
            top = self._norm(argv[3])
            prefixes = tuple(posixpath.normpath(posixpath.join(top, sub)) + "/" for sub in ("cache", "runs"))
            mine = [p for p in self.files if p.startswith(prefixes)]
            out = {"files": len(mine), "freed_bytes": sum(len(self.files.pop(p)) for p in mine)}
            return CommandResult(argv, 0, ("\n" + json.dumps(out) + "\n").encode(), b"")
        if len(argv) >= 3 and argv[1].endswith(".pyz") and argv[2] == "probe":
            return CommandResult(argv, 0, self._probe_line().encode(), b"")
        return CommandResult(argv, 127, b"", f"{argv[0]}: not a command this fake board knows\n".encode())

    def _probe_line(self) -> str:
        return json.dumps(self.facts if self.facts is not None else default_facts(self.name)) + "\n"

    def stream(self, argv: list[str], *, stdin: bytes | None = None, on_stdout_line: LineHandler,
               on_stderr_line: LineHandler | None = None, idle_timeout: float | None = 120.0,
               deadline_s: float | None = None, max_line_bytes: int | tuple = MAX_LINE_BYTES,
               heartbeat_s: float | None = None) -> int:
        argv = [str(a) for a in argv]
        self._call("stream", argv=argv, stdin=stdin)
        if not (len(argv) >= 3 and argv[1].endswith(".pyz") and argv[2] == "run"):
            if on_stderr_line:
                on_stderr_line(f"{argv[0]}: not a command this fake board knows")
            return 127
        job = json.JSONDecoder().raw_decode((stdin or b"").decode().strip())[0]
        events = self.on_job(job, self.files)
        splitter = LineSplitter(on_stdout_line, max_line_bytes, device=self.name)
        for ev in events:
            splitter.feed((json.dumps(ev, separators=(",", ":")) + "\n").encode())
        splitter.flush()
        return 1 if any(e.get("event") == "error" for e in events) else 0

    def put_file(self, local: str, remote: str, *, resume: bool = True) -> TransferResult:
        self._call("put_file", path=remote)
        data = Path(local).read_bytes()
        self.files[self._norm(remote)] = data
        return TransferResult(str(local), remote, len(data), len(data), 0.0)

    def get_file(self, remote: str, local: str) -> int:
        self._call("get_file", path=remote)
        data = self.files[self._norm(remote)]
        Path(local).write_bytes(data)
        return len(data)

    def makedirs(self, remote: str) -> None:
        self._call("makedirs", path=remote)

    def remove(self, remote: str) -> None:
        self._call("remove", path=remote)
        self.files.pop(self._norm(remote), None)

    def remove_empty_dir(self, remote: str) -> None:
        self._call("remove_empty_dir", path=remote)


def run_real_agent(job: dict, files: dict[str, bytes]) -> list[dict]:
    """The default job handler: the real agent bundle over the pushed files, in a scratch directory;
    what it writes there (the accuracy outputs) is copied back into `files`."""
    from .agent import run_agent

    with tempfile.TemporaryDirectory(prefix="edgeeval-fake-board-") as td:
        for path, data in files.items():
            dst = Path(td, path)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(data)
        job = {k: v for k, v in job.items() if k != "watchdog_s"}   # no heartbeats come through a fake link
        run = run_agent(td, ("run",), job)
        for root, _, names in os.walk(td):
            for n in names:
                rel = str(Path(root, n).relative_to(td))
                data = Path(root, n).read_bytes()
                if files.get(rel) != data:   # what the agent wrote (outputs), or changed
                    files[rel] = data
    return run.events
