"""Run a plan's jobs on its boards in parallel from one controller: `edgeeval farm run PLAN`.

Each recipe is built and its server reference computed once, before any board is taken. Then one
thread per board takes jobs (its pinned jobs, and pool jobs it matches) and runs each under the
board's lease (store/leases.py): a health check first where one is due (health.py), then the
deploy's board stages for that one variant, stored as its own run. So every board is busy, no
board ever runs two jobs, and one board's failure never stops another's work. A remote board's
lease ends with its measurement: the job is evaluated and stored by the settler thread while the
board measures its next job.

A board fault retries the job (`retries`), after a health check; a failed check quarantines the
board: its pinned jobs are reported skipped with the reason, its pool jobs go to another board of
the pool. The result is a map job -> outcome (fabric's GroupResult shape), also in the store.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable

from ..errors import DeviceError, EdgeevalError, RuntimeAbsent, UserInputError
from .plan import JobSpec, Plan

if TYPE_CHECKING:
    from ..pipeline import Measured, Reference
    from ..pipeline import Plan as DeployPlan
    from ..recipes.build import BuildResult

# on_event(board or None, kind, data): kinds "build", "job_start", "phase", "job_done", "health",
# "board_out", "lease_wait"
FarmNotify = Callable[[str | None, str, dict], None]

FAULT_STATUSES = ("device_error", "skipped", "aborted")


def _quiet(board, kind, data) -> None:
    pass


def exit_code_of(statuses) -> int:
    """0 all passed; 3 a job nothing could measure (a board fault no other board took over);
    else 1 when a gate failed or a job errored."""
    from ..errors import EXIT_DEVICE_ERROR, EXIT_GATE_FAILED, EXIT_OK

    statuses = set(statuses)
    if statuses & set(FAULT_STATUSES):
        return EXIT_DEVICE_ERROR
    if statuses - {"ok"}:
        return EXIT_GATE_FAILED
    return EXIT_OK


@dataclass
class JobOutcome:
    spec: JobSpec
    status: str                   # ok | gate_failed | device_error | error | skipped | aborted
    device: str | None = None
    reason: str | None = None
    run_id: int | None = None
    headline: dict | None = None
    attempts: int = 0
    earlier: bool = False         # finished in an earlier run of this campaign (resume)


@dataclass
class CampaignResult:
    campaign: str
    campaign_id: int
    outcomes: list[JobOutcome]
    boards: dict[str, dict] = field(default_factory=dict)    # name -> {state, reason, jobs}
    wall_s: float = 0.0

    @property
    def exit_code(self) -> int:
        return exit_code_of(o.status for o in self.outcomes)

    def by_status(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for o in self.outcomes:
            out[o.status] = out.get(o.status, 0) + 1
        return out


@dataclass
class _Prepared:
    """One matrix entry, built and referenced: what every job of it shares."""
    p: DeployPlan
    built: BuildResult
    ref: Reference


def campaign_name(plan: Plan, when: float | None = None) -> str:
    return f"{plan.name}-{time.strftime('%Y-%m-%d', time.gmtime(when or time.time()))}"


def job_key(spec: JobSpec, prepared: _Prepared, runtime: dict) -> str:
    """What determines a job's result: recipe content, variant and its artifact, where it runs,
    the resolved settings, the agent."""
    from ..provenance import agent_sha256

    art = next(v for v in prepared.built.variants if v.name == spec.variant)
    ident = {"recipe_hash": prepared.built.manifest["recipe_hash"], "variant": spec.variant,
             "artifact_sha256": art.sha256, "dataset_sha256": prepared.built.eval_set.sha256,
             "where": spec.selector, "timing": prepared.p.timing, "scenario": prepared.p.scenario,
             "runtime": runtime, "batch_size": prepared.p.recipe.run.batch_size, "agent_sha256": agent_sha256()}
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()


def headline(summary: dict) -> dict:
    """The few figures a campaign's table shows for a job."""
    lat = summary.get("latency") or {}
    acc = summary.get("accuracy") or {}
    energy = ((summary.get("power") or {}).get("e_total_mj") or {}).get("mean")   # mJ per inference
    return {"p50_ms": lat.get("p50"), "p90_ms": lat.get("p90"), "throughput_ips": lat.get("throughput_ips"),
            "top1": acc.get("top1"), "accuracy_drop_pt": acc.get("drop_pt"),
            "energy_mj": energy if isinstance(energy, (int, float)) else None,
            "passed": bool(summary.get("passed")),
            "noisy": bool((summary.get("noise") or {}).get("noisy")),
            "throttled": bool((summary.get("thermal") or {}).get("throttled"))}


class _Queue:
    """The campaign's pending jobs; a board takes the first it may run. A worker waits while a job
    in flight elsewhere might still come back to it (a retry, a quarantined board's pool job)."""

    def __init__(self, specs: list[JobSpec]):
        self.pending = list(specs)
        self.in_flight: dict[int, JobSpec] = {}
        self.out: dict[str, str] = {}          # board -> why it left service
        self.cv = threading.Condition()

    def take(self, board: str) -> JobSpec | None:
        with self.cv:
            while True:
                if board in self.out:
                    return None
                for i, s in enumerate(self.pending):
                    if board in s.candidates:
                        spec = self.pending.pop(i)
                        self.in_flight[id(spec)] = spec
                        return spec
                if not any(board in s.candidates for s in self.in_flight.values()):
                    return None
                self.cv.wait(1.0)

    def done(self, spec: JobSpec) -> None:
        with self.cv:
            self.in_flight.pop(id(spec), None)
            self.cv.notify_all()

    def again(self, spec: JobSpec) -> None:
        """Back to the front: a retry, or a pool job its board could not run."""
        with self.cv:
            self.in_flight.pop(id(spec), None)
            self.pending.insert(0, spec)
            self.cv.notify_all()

    def board_out(self, board: str, why: str) -> list[JobSpec]:
        """`board` runs nothing more; returns the pending jobs no board in service can run now."""
        with self.cv:
            self.out[board] = why
            orphans = [s for s in self.pending if all(c in self.out for c in s.candidates)]
            self.pending = [s for s in self.pending if s not in orphans]
            self.cv.notify_all()
            return orphans

    def orphaned(self, spec: JobSpec) -> bool:
        with self.cv:
            return all(c in self.out for c in spec.candidates)


class FarmRun:
    """One campaign's execution on this controller."""

    def __init__(self, plan: Plan, *, store_url: str | None = None, campaign: str | None = None,
                 notify: FarmNotify | None = None):
        from .. import paths
        from ..store.store import Store

        self.plan = plan
        self.store = Store(store_url or paths.store_url())
        self.engine = self.store.engine
        self.campaign = campaign or campaign_name(plan)
        self.say = notify or _quiet
        self.outcomes: dict[int, JobOutcome] = {}
        self.lock = threading.Lock()
        self.boards: dict[str, dict] = {}
        self._settler: ThreadPoolExecutor | None = None     # set while run() runs the boards

    # -- stage 1: every recipe built and referenced before any board is taken

    def prepare(self) -> tuple[dict[int, _Prepared], dict[int, str]]:
        from ..pipeline import build_stage, reference
        from ..pipeline import plan as deploy_plan

        prepared: dict[int, _Prepared] = {}
        failed: dict[int, str] = {}
        for i, e in enumerate(self.plan.file.matrix):
            specs = [s for s in self.plan.jobs if s.entry == i]
            if not specs:
                continue
            p = deploy_plan(specs[0].recipe_path, specs[0].candidates[0], inventory=self.plan.inventory_path,
                            only=e.variants, timing_overrides=specs[0].timing,
                            scenario_overrides=specs[0].scenario)
            say = (lambda kind, data, name=p.recipe.name: self.say(None, "build", {"recipe": name, "kind": kind,
                                                                                   **_short(data)}))
            try:
                built = build_stage(p, say)
                ref = reference(p, built, say)
            except UserInputError:
                raise
            except EdgeevalError as exc:        # a build tool failed: this entry's jobs error, others go on
                failed[i] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
                continue
            prepared[i] = _Prepared(p, built, ref)
        return prepared, failed

    # -- the whole campaign

    def setup(self) -> list[JobSpec]:
        """Build and reference every recipe, open the campaign, key its jobs and make their rows;
        jobs finished earlier (or whose recipe failed to build) get their outcome now. Returns the
        jobs still to run."""
        from ..store import farm as fs

        self._t0 = time.monotonic()
        prepared, failed = self.prepare()
        cid, _ = self._db(fs.open_campaign, self.campaign, plan_name=self.plan.name,
                                  plan_path=str(self.plan.path.resolve()), plan_sha256=self.plan.sha256,
                                  settings={"boards": self.plan.boards(), "jobs": len(self.plan.jobs)})
        self.campaign_id = cid
        self.campaign_row = self._db(fs.get_campaign, self.campaign)
        rows_in = []
        for s in self.plan.jobs:
            if s.entry in prepared:
                pr = prepared[s.entry]
                rt = pr.p.runtime if not s.pinned else self._deploy_plan(pr, s.candidates[0], s.variant).runtime
                s.key = job_key(s, pr, rt)
            else:
                s.key = hashlib.sha256(f"unbuilt:{s.label}:{self.plan.sha256}".encode()).hexdigest()
            rows_in.append({"job_key": s.key, "recipe_name": s.recipe_path.stem, "recipe_path": str(s.recipe_path),
                            "variant": s.variant, "selector": s.selector})
        self.rows = self._db(fs.add_jobs, cid, rows_in)
        self._prepared = prepared
        todo: list[JobSpec] = []
        for s in self.plan.jobs:
            row = self.rows[s.key]
            if s.entry in failed:
                self._finish(s, JobOutcome(s, "error", reason=f"the recipe could not be built: {failed[s.entry]}"))
            elif fs.is_finished(row):
                self._record(s, self._earlier(s, row))
                self.say(row["device_name"], "job_done", {"job": s.label, "status": row["status"], "earlier": True})
            else:
                todo.append(s)
        return todo

    @staticmethod
    def _earlier(s: JobSpec, row: dict) -> JobOutcome:
        return JobOutcome(s, row["status"], row["device_name"], row["reason"], row["run_id"], row["headline"],
                          row["attempts"], earlier=True)

    def run(self) -> CampaignResult:
        todo = self.setup()
        _warm_up(self.plan)
        queue = _Queue(todo)
        threads = [threading.Thread(target=self._board_worker, args=(b, queue), name=f"farm-{b}", daemon=True)
                   for b in self.plan.boards()]
        # One settler: evaluation and storing hold the GIL, so more threads would not add speed, and
        # one writer keeps a SQLite store's writes in a line.
        self._settler = ThreadPoolExecutor(1, thread_name_prefix="farm-settle")
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            self._settler.shutdown(wait=True)
        for s in queue.pending:       # nothing in service could take them
            why = "; ".join(f"{c}: {queue.out.get(c, 'not in service')}" for c in s.candidates)
            self._finish(s, JobOutcome(s, "skipped", reason=f"no board left to run it ({why})"))
        return self.result(finish=True)

    def result(self, finish: bool = False) -> CampaignResult:
        from ..store import farm as fs

        outcomes = [self.outcomes[id(s)] for s in self.plan.jobs if id(s) in self.outcomes]
        res = CampaignResult(self.campaign, self.campaign_id, outcomes, self.boards, time.monotonic() - self._t0)
        if finish:
            self._db(fs.finish_campaign, self.campaign_id, "done" if res.exit_code == 0 else
                               ("faults" if res.exit_code == 3 else "failures"))
            self.store.close()
        return res

    # -- bookkeeping

    def _record(self, spec: JobSpec, out: JobOutcome) -> None:
        with self.lock:
            self.outcomes[id(spec)] = out

    def _finish(self, spec: JobSpec, out: JobOutcome) -> None:
        from ..store import farm as fs

        self._record(spec, out)
        self._db(fs.finish_job, self.rows[spec.key]["id"], out.status, reason=out.reason, run_id=out.run_id,
                      headline=out.headline, device=out.device)
        self.say(out.device, "job_done", {"job": spec.label, "status": out.status, "reason": out.reason,
                                          "headline": out.headline})

    def _db(self, fn, *args, **kwargs):
        """A store call of the farm's bookkeeping, ridden over a brief outage of the store's server."""
        from ..store.retry import retrying

        return retrying(lambda: fn(self.engine, *args, **kwargs), what=f"the farm's {fn.__name__}",
                        server=self.engine.dialect.name != "sqlite")

    def _deploy_plan(self, pr: _Prepared, board: str, variant: str) -> DeployPlan:
        from ..pipeline.stages import runtime_for

        dev = self.plan.inventory.get(board)
        return replace(pr.p, device=dev, only=[variant], runtime=runtime_for(pr.p.recipe, dev))

    # -- one board

    def _board_worker(self, board: str, queue: _Queue) -> None:

        info = self.boards.setdefault(board, {"state": "healthy", "reason": None, "jobs": 0, "checks": 0,
                                              "current": None})
        try:
            self._board_loop(board, queue, info)
        except BaseException as exc:     # a bug here must not leave the other boards waiting for ever
            why = f"the controller failed on this board: {type(exc).__name__}: {exc}"
            spec = info.get("current")
            if spec is not None:
                self._finish(spec, JobOutcome(spec, "error", board, why))
                queue.done(spec)
            self._board_out(board, queue, info, why)
            info["state"] = "error"
            if not isinstance(exc, Exception):
                raise

    def _board_loop(self, board: str, queue: _Queue, info: dict) -> None:
        from ..store import farm as fs
        from ..store.leases import BoardBusy, acquire

        h = self.plan.file.health
        dev = self.plan.inventory.get(board)
        state = self._db(fs.health_of, board)
        due = h.enabled                                     # before the board's first job of the campaign
        if state is not None and state["state"] == "quarantined":
            if not h.enabled or not _recheck_due(state, h.recheck_after_s):
                self._board_out(board, queue, info, f"quarantined since {state['since']}: {state['reason']}")
                return
            due = True
        while True:
            spec = info["current"] = queue.take(board)
            if spec is None:
                return
            try:
                lease = self._db(acquire, board, purpose="farm", job=f"{self.campaign}: {spec.label}",
                                 ttl_s=self.plan.file.lease_ttl_s, wait=self.plan.file.lease_wait_s > 0,
                                 timeout_s=self.plan.file.lease_wait_s,
                                 on_wait=lambda holder: self.say(board, "lease_wait", holder))
            except BoardBusy as exc:
                self._board_out(board, queue, info, f"busy: {str(exc).splitlines()[0]}")
                self._give_back(spec, queue, board, f"board {board} busy")
                return
            try:
                if due or (h.enabled and int((self._db(fs.health_of, board) or {}).get("jobs_since_check") or 0)
                              >= h.every_jobs):
                    passed = self._health(board, dev, info, lease)
                    due = False
                    if not passed:
                        self._board_out(board, queue, info, f"quarantined: {info['reason']}")
                        self._give_back(spec, queue, board, f"board {board} quarantined: {info['reason']}")
                        return
                res = self._measure_job(spec, board, lease)
                info["jobs"] += 1
                if h.enabled:
                    self._db(fs.count_job, board)
            finally:
                lease.release()
            if isinstance(res, _Pending):
                if self._settler is not None and not dev.is_local:
                    # Evaluating and storing need no board: the board measures its next job meanwhile.
                    # Not on the controller's own machine, where it would disturb that measurement.
                    self._settler.submit(self._settle_and_finish, res, queue)
                    info["current"] = None
                    continue
                out = self._settle(res)
            else:
                out = res
            if out.status == "device_error" and out.attempts <= spec.retries:
                due = h.enabled                       # the board is checked before anything runs on it again
                self.say(board, "retry", {"job": spec.label, "attempt": out.attempts, "reason": out.reason})
                self._record(spec, out)
                queue.again(spec)
                continue
            if out.status == "device_error":
                due = h.enabled
            self._finish(spec, out)
            queue.done(spec)
            info["current"] = None

    def _give_back(self, spec: JobSpec, queue: _Queue, board: str, why: str) -> None:
        if queue.orphaned(spec):
            prev = self.outcomes.get(id(spec))
            self._finish(spec, JobOutcome(spec, "skipped", device=board, reason=why,
                                          attempts=prev.attempts if prev else 0))
            queue.done(spec)
        else:
            queue.again(spec)

    def _board_out(self, board: str, queue: _Queue, info: dict, why: str) -> None:
        info.update(state="out", reason=why)
        self.say(board, "board_out", {"reason": why})
        for s in queue.board_out(board, why):
            self._finish(s, JobOutcome(s, "skipped", device=board if s.pinned else None, reason=f"{board} {why}"))

    def _health(self, board: str, dev, info: dict, lease) -> bool:
        from ..store import farm as fs
        from . import health

        state = self._db(fs.health_of, board)
        self.say(board, "health", {"phase": "start"})
        out = health.check(dev, self.plan.file.health, state["band_p50_ms"] if state else None)
        lease.check()
        self._db(fs.record_check, board, out.passed, out.detail, reason=out.reason, band_p50_ms=out.p50_ms,
                        by=f"health check ({self.campaign})")
        info["checks"] += 1
        info["health"] = out.detail
        if not out.passed:
            info.update(state="quarantined", reason=out.reason)
        self.say(board, "health", {"phase": "done", "passed": out.passed, "reason": out.reason,
                                   "p50_ms": out.p50_ms})
        return out.passed

    def _run_job(self, spec: JobSpec, board: str, lease, attempt: int | None = None) -> JobOutcome:
        """One attempt of `spec` on `board` under `lease`, measured, evaluated and stored."""
        res = self._measure_job(spec, board, lease, attempt)
        return res if isinstance(res, JobOutcome) else self._settle(res)

    def _measure_job(self, spec: JobSpec, board: str, lease, attempt: int | None = None) -> JobOutcome | _Pending:
        """The board part of one attempt: the outcome when it ended there (a fault, an error), else
        the measured job still to be evaluated and stored, which needs the board no more."""
        from ..pipeline import measure_leased
        from ..store import farm as fs

        pr = self._prepared[spec.entry]
        p = self._deploy_plan(pr, board, spec.variant)
        row = self.rows[spec.key]
        self._db(fs.start_job, row["id"], board)
        prev = self.outcomes.get(id(spec))
        attempts = attempt if attempt is not None else (prev.attempts if prev else 0) + 1
        self.say(board, "job_start", {"job": spec.label, "attempt": attempts})

        def say(kind: str, data: dict) -> None:
            self.say(board, kind, data)

        try:
            m = measure_leased(p, pr.built, pr.ref, self.store, lease, say, command="farm",
                               settings={"farm": {"campaign": self.campaign, "job_key": spec.key,
                                                  "selector": spec.selector, "attempt": attempts}})
        except DeviceError as exc:
            return JobOutcome(spec, "device_error", board, _first(exc), None, None, attempts)
        except EdgeevalError as exc:
            return JobOutcome(spec, "error", board, _first(exc), None, None, attempts)
        if isinstance(m.outcome.error, RuntimeAbsent):     # nothing broke: not retried, not a health concern
            m.settle()
            return JobOutcome(spec, "skipped", board, _first(m.outcome.error), m.outcome.run_id, None, attempts)
        pending = _Pending(spec, board, m, attempts)
        return self._settle(pending) if m.outcome.error is not None else pending

    def _settle(self, job: _Pending) -> JobOutcome:
        """Evaluate and store a measured job; its outcome."""
        spec, board, attempts = job.spec, job.board, job.attempts
        try:
            outcome = job.measured.settle()
        except EdgeevalError as exc:
            return JobOutcome(spec, "error", board, _first(exc), job.measured.outcome.run_id, None, attempts)
        if outcome.error is not None:
            return JobOutcome(spec, "device_error", board, _first(outcome.error), outcome.run_id, None, attempts)
        v = outcome.variants[0] if outcome.variants else None
        if v is None:
            return JobOutcome(spec, "error", board, "the run stored no variant", outcome.run_id, None, attempts)
        return JobOutcome(spec, "ok" if v.passed else "gate_failed", board,
                          None if v.passed else _gate_reason(v.summary), outcome.run_id, headline(v.summary), attempts)

    def _settle_and_finish(self, job: _Pending, queue: _Queue) -> None:
        """The settler thread's task: a measured job evaluated, stored and finished while its board
        already measures the next one."""
        try:
            out = self._settle(job)
        except BaseException as exc:     # a bug here must not leave the job in flight for ever
            out = JobOutcome(job.spec, "error", job.board, f"the controller failed storing it: {type(exc).__name__}: "
                             f"{exc}", job.measured.outcome.run_id, None, job.attempts)
        try:
            self._finish(job.spec, out)
        finally:
            queue.done(job.spec)


@dataclass
class _Pending:
    """A job measured on its board, to be evaluated and stored."""
    spec: JobSpec
    board: str
    measured: Measured
    attempts: int


def _first(exc: BaseException) -> str:
    lines = str(exc).splitlines()
    return " | ".join(x.strip() for x in lines[:2]) if lines else type(exc).__name__


def _gate_reason(summary: dict) -> str:
    failed = [g for g in summary.get("gates") or [] if g.get("passed") is not True]
    if not failed:
        return "a gate failed"
    return "; ".join(f"{g['name']} {g.get('value')!s} {'>' if g['op'] == '<=' else '<'} {g['limit']}"
                     if g.get("value") is not None else f"{g['name']}: {g.get('reason')}" for g in failed[:3])


def _short(data) -> dict:
    return data if isinstance(data, dict) else {"text": str(data)}


def _warm_up(plan: Plan) -> None:
    """What every board thread needs, loaded once before they start: 16 threads importing paramiko,
    scipy.stats and the evaluation at the same moment queue on the import locks (measured: a third of
    a 16-board campaign's controller CPU went to imports), and the health check's model is built once."""
    import importlib

    for mod in ("scipy.stats", "edgeeval.evaluate.summary", "edgeeval.agentclient", "edgeeval.devices.check"):
        importlib.import_module(mod)
    if any(not plan.inventory.get(b).is_local for b in plan.boards()):
        importlib.import_module("edgeeval.transport.ssh")
    if plan.file.health.enabled:
        from . import health

        health.known_model()


def _recheck_due(state: dict, after_s: float) -> bool:
    from datetime import datetime, timezone

    when = state.get("checked_at") or state.get("since")
    if not when:
        return True
    age = (datetime.now(timezone.utc) - datetime.fromisoformat(when)).total_seconds()
    return age >= after_s


def run_plan(plan: Plan, **kw) -> CampaignResult:
    return FarmRun(plan, **kw).run()
