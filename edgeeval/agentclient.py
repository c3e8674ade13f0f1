"""The controller's side of the agent protocol (docs/architecture.md): push, probe, run a job.

Everything here goes through a Transport, so `local` and SSH boards share one code path.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from typing import Callable

from .agent import agent_path
from .agent.edgeeval_agent.protocol import WATCHDOG_EXIT
from .boardjob import Job, model_block, variant_runtime
from .errors import AgentError, BoardProtocolError, RemoteCommandError
from .provenance import agent_sha256
from .transport.base import PushReport, Transport

EventHandler = Callable[[dict], None]
# the controller writes a newline on the job's stdin every HEARTBEAT_S; the agent stops the job
# when none came for WATCHDOG_S (a cut link, a killed controller): the board is free again
HEARTBEAT_S, WATCHDOG_S = 1.0, 8.0


@dataclass
class BoardSession:
    """A transport plus where things live on that board."""

    transport: Transport
    python: str
    workdir: str
    device: str
    remote: dict[str, str] = field(default_factory=dict)   # sha256 -> remote path
    pushes: list[PushReport] = field(default_factory=list)
    job_margin: float = 600.0     # the device's timeouts.job_margin (boardlimits.deadline_s)

    def __post_init__(self) -> None:
        # "~/.edgeeval" -> ".edgeeval": relative to the login directory, which is where both the
        # SFTP session and every remote command start, so cache, run outputs and downloads agree
        # (a quoted "~" is never expanded by a shell, and SFTP does not expand it at all)
        from .transport.boardcache import board_workdir

        self.workdir = board_workdir(self.workdir)

    def push(self, files: list[tuple[str, str, str]]) -> PushReport:
        """Ensure (local_path, sha256, suffix) files sit verified in the board cache; the agent always."""
        from .transport.boardcache import ensure_artifacts

        wanted = [(str(agent_path()), agent_sha256(), ".pyz"), *files]
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
        """Run `agent.pyz probe`; return the facts dict (power sensors looked up under sysfs_root)."""
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

    def job(self, variant, eval_set, *, batch_size: int, runtime: dict, timing: dict, scenario: dict | None,
            device_runtime=None, power: dict | None = None, accuracy: bool = True) -> Job:
        """The job that runs `variant` (pushed) over `eval_set` (pushed) on this board."""
        job_id = Job.new_id()
        return Job(job_id=job_id, variant=variant.name, model=model_block(variant, self.remote[variant.sha256]),
                   data={"path": self.remote[eval_set.sha256], "sha256": eval_set.sha256,
                         "inputs": list(eval_set.inputs), "labels": eval_set.labels, "batch_size": batch_size},
                   runtime=variant_runtime(runtime, device_runtime, variant), timing=timing, scenario=scenario,
                   outputs_path=f"{self.run_dir(job_id)}/outputs.npz" if accuracy else None, power=power)

    def run_job(self, job: Job | dict, on_event: EventHandler | None = None,
                idle_timeout: float = 300.0) -> dict:
        """Run one job; stream events to on_event; return the checked `result` event.

        Everything the board sends is bounded (edgeeval/boardlimits.py): the job's deadline,
        line lengths, the number of events, message sizes, the result's numbers. A violation
        stops the job with BoardProtocolError (a device fault)."""
        from . import boardlimits as lim
        from .jobdefaults import complete

        job = job.wire() if isinstance(job, Job) else complete(job)
        result: dict | None = None
        error: dict | None = None
        stderr_tail: list[str] = []
        events = 0
        deadline = lim.deadline_s(job, self.job_margin)
        allowed = lim.max_events(deadline)

        def on_stdout(line: str) -> None:
            nonlocal result, error, events
            line = line.strip()
            if not line:
                return
            events += 1
            if events > allowed:
                raise BoardProtocolError(f"the board sent more than {allowed:,} events for one job; stopped it",
                                         device=self.device, hint="a broken or tampered agent")
            if len(line) > lim.EVENT_LINE_BYTES and not line.startswith(lim.RESULT_LINE_PREFIX):
                raise BoardProtocolError(f"the board sent a {len(line):,}-byte event (limit "
                                         f"{lim.EVENT_LINE_BYTES:,} for anything but the result); stopped it",
                                         device=self.device, hint="a broken or tampered agent")
            try:
                ev = json.loads(line, parse_constant=lim.reject_constant)
            except (json.JSONDecodeError, ValueError, RecursionError) as exc:
                if line.startswith('{"event"'):    # a protocol line that is not JSON: a broken agent
                    raise BoardProtocolError(f"the board sent a malformed protocol line ({type(exc).__name__}: "
                                             f"{str(exc)[:200]}): {line[:120]}", device=self.device,
                                             hint="a broken or tampered agent") from None
                stderr_tail.append(f"(non-protocol stdout: {type(exc).__name__}) {line[:200]}")
                del stderr_tail[:-40]
                return
            if not isinstance(ev, dict):
                stderr_tail.append(f"(non-protocol stdout) {line[:200]}")
                return
            kind = ev.get("event")
            if kind == "result":
                if result is not None:
                    raise BoardProtocolError("the board sent a second result for one job", device=self.device,
                                             hint="a broken or tampered agent")
                result = ev
            elif kind == "error":
                error = {k: lim.cut(ev.get(k), lim.TRACEBACK_CHARS if k == "traceback" else lim.MESSAGE_CHARS)
                         for k in ("type", "message", "hint", "traceback") if ev.get(k) is not None}
                return
            if on_event:
                on_event(ev)

        def on_stderr(line: str) -> None:
            stderr_tail.append(line.rstrip())
            del stderr_tail[:-40]

        job = {**job, "watchdog_s": WATCHDOG_S}   # the agent stops when our heartbeats stop
        status = self.transport.stream(
            [self.python, self.agent, "run"], stdin=json.dumps(job).encode() + b"\n",
            on_stdout_line=on_stdout, on_stderr_line=on_stderr, idle_timeout=idle_timeout,
            deadline_s=deadline, max_line_bytes=(lim.EVENT_LINE_BYTES, lim.RESULT_LINE_PREFIX.encode(),
                                                 lim.max_result_line_bytes(job, deadline)),
            heartbeat_s=HEARTBEAT_S)
        if error is not None:
            raise _agent_error(error, self.device)
        if status != 0 or result is None:
            tail = "\n    ".join(stderr_tail[-15:]) or "(no stderr)"
            how = f"exited with status {status}"
            if status > 128:      # the shell's 128 + N: killed by signal N
                import signal

                try:
                    sig = signal.Signals(status - 128).name
                except ValueError:
                    sig = f"signal {status - 128}"
                how = (f"was killed by {sig} (exit status {status})"
                       + ("; SIGKILL is what the OOM killer sends" if sig == "SIGKILL" else ""))
            elif status == WATCHDOG_EXIT:
                how = f"stopped itself: its watchdog heard no heartbeat from this controller (exit status {status})"
            raise AgentError(
                f"the agent {how} without a result; its last stderr lines:\n    {tail}",
                device=self.device, remote_type="crash", remote_traceback="\n".join(stderr_tail))
        return lim.check_result(result, job, self.device, deadline)

    def fetch(self, remote: str, local: str) -> None:
        """Download a job's output, then remove it and its run folder from the board (what a
        killed controller leaves there is swept by the next push, boardcache.VERIFY_SCRIPT)."""
        self.transport.get_file(remote, local)
        try:
            self.transport.remove(remote)
            self.transport.remove_empty_dir(posixpath.dirname(remote))
        except Exception:  # best effort: the next push sweeps what is left
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
