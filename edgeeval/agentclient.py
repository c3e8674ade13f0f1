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
    checked: dict | None = None   # this session's boardcache.check() answer (prepare), reused by push
    _known: dict | None = field(default=None, repr=False)   # the runtime facts cache the last probe left

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
            mapping, report = ensure_artifacts(self.transport, self.python, self.workdir, todo,
                                               checked=self.checked)
            self.remote.update(mapping)
        self.pushes.append(report)
        return report

    @property
    def agent(self) -> str:
        return self.remote[agent_sha256()]

    def prepare(self, files: list[tuple[str, str, str]], sysfs_root: str | None = None) -> dict:
        """Verify the agent and `files` in the board cache, sweep, and probe — one interpreter start
        on a warm board, and no runtime import when the board's runtimes are those of the last probe
        (facts.runtime_stamp). Returns the facts; a later push(files) sends only what is missing."""
        from .transport.boardcache import cache_path, check

        sha = agent_sha256()
        remote_agent = cache_path(self.workdir, sha, ".pyz")
        known = _facts_cache(self.device, self.python).load()
        argv = self._probe_args(sysfs_root, known)
        self.checked = check(self.transport, self.python, self.workdir, [(str(agent_path()), sha, ".pyz"), *files],
                             probe={"agent": remote_agent, "sha256": sha, "argv": argv})
        if self.checked["hashes"].get(remote_agent) != sha:
            self.push([])               # the agent is missing or damaged: upload it, then probe
            return self.probe(sysfs_root)
        self.remote[sha] = remote_agent
        out = self.checked["probe"]
        return self._facts(out["stdout"], out["stderr"], out["exit_status"], known)

    def probe(self, sysfs_root: str | None = None) -> dict:
        """Run `agent.pyz probe` (importing every runtime); return the facts dict (power sensors
        looked up under sysfs_root) and remember the runtime facts for prepare()."""
        if agent_sha256() not in self.remote:
            self.push([])
        res = self.transport.run([self.python, self.agent, *self._probe_args(sysfs_root, None)], timeout=60)
        return self._facts(res.stdout.decode("utf-8", "replace"), res.stderr.decode("utf-8", "replace"),
                           res.exit_status, None)

    def _probe_args(self, sysfs_root: str | None, known: dict | None) -> list[str]:
        argv = ["probe", "--workdir", self.workdir]
        if sysfs_root:
            argv += ["--sysfs-root", sysfs_root]
        if known:
            argv += ["--known", known["stamp"]]
        return argv

    def _facts(self, stdout: str, stderr: str, status: int, known: dict | None) -> dict:
        for ev in _parse_lines(stdout):
            if ev.get("event") == "facts":
                cache = _facts_cache(self.device, self.python)
                facts = cache.merge(ev, known, self.device)
                self._known = cache.load()      # what a job's result facts may skip importing
                return facts
            if ev.get("event") == "error":
                raise _agent_error(ev, self.device)
        stderr = stderr.strip()
        raise RemoteCommandError(
            f"the agent probe failed (exit status {status}) with {self.python!r}: "
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
                   outputs_path=f"{self.run_dir(job_id)}/outputs.npz" if accuracy else None, power=power,
                   board_lock=posixpath.join(self.workdir, "board.lock"),
                   facts_known=(self._known or {}).get("stamp"))

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
        result = lim.check_result(result, job, self.device, deadline)
        if isinstance(result.get("facts"), dict):    # runtime facts skipped by the stamp: ours, filled in
            sent = job.get("facts_known")
            known = self._known if sent and self._known and self._known.get("stamp") == sent else None
            result["facts"] = _facts_cache(self.device, self.python).merge(result["facts"], known, self.device)
        return result

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


RUNTIME_FACTS = ("numpy", "runtimes")   # the facts a probe imports modules for (agent facts.py)


@dataclass
class _FactsCache:
    """The last full probe's runtime facts of one device (EDGEEVAL_HOME/probes), under the board's
    runtimes stamp: the agent skips its imports only when the stamp is still the board's."""

    path: object

    def load(self) -> dict | None:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        ok = isinstance(data, dict) and isinstance(data.get("stamp"), str) and data.get("agent_sha256") == agent_sha256()
        return data if ok and all(isinstance(data.get(k), dict) for k in RUNTIME_FACTS) else None

    def merge(self, facts: dict, known: dict | None, device: str) -> dict:
        if facts.get("runtimes_cached"):
            if known is None:     # the agent claims a stamp we did not send: a broken agent
                raise BoardProtocolError("the agent probe skipped its runtime imports unasked",
                                         device=device, hint="a broken or tampered agent")
            return {**facts, **{k: known[k] for k in RUNTIME_FACTS}}
        stamp = facts.get("runtimes_stamp")
        if isinstance(stamp, str) and all(isinstance(facts.get(k), dict) for k in RUNTIME_FACTS):
            from .recipes.cache import write_json_atomic

            try:
                write_json_atomic(self.path, {"stamp": stamp, "agent_sha256": agent_sha256(),
                                              **{k: facts[k] for k in RUNTIME_FACTS}})
            except OSError:       # a read-only home: every probe then imports, nothing is wrong
                pass
        return facts


def _facts_cache(device: str, python: str) -> _FactsCache:
    import hashlib

    from . import paths

    key = hashlib.sha256(json.dumps([device, python]).encode()).hexdigest()[:24]
    return _FactsCache(paths.home() / "probes" / f"{key}.json")


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
