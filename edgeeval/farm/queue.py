"""The farm across several controllers: jobs on a procrastinate queue in PostgreSQL.

`edgeeval farm run PLAN --queue URL` builds and keys the plan's jobs (as a local run does), makes
their campaign rows in the store and defers one procrastinate job per unfinished job:
`lock` = the board for a pinned job (procrastinate never runs two jobs with one lock at once, so
no worker sits waiting on a busy board), `queueing_lock` = campaign and job key (a nightly
deferred twice is queued once). `edgeeval farm worker --queue URL` on each controller executes
them: the same lease, health check, quarantine and store code as a local run. Workers heartbeat
(procrastinate's); every worker recovers the jobs of workers whose heartbeat stopped
(`get_stalled_jobs` → `retry_job`), and the dead worker's board lease expires within its ttl, so
the job runs again elsewhere and is stored once. A plan with a `schedule:` is deferred by the
worker's periodic task. Results go to the store (by default the queue's own database).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import DeviceError, UserInputError
from .plan import JobSpec, load_plan
from .runner import FarmRun, JobOutcome, campaign_name

TASK = "edgeeval_farm_job"
SCHEDULE_TASK = "edgeeval_farm_schedule"
STALLED_TASK = "edgeeval_farm_recover_stalled"
QUEUE = "edgeeval-farm"
log = logging.getLogger("edgeeval.farm")


def _conninfo(url: str) -> str:
    """A libpq URI for procrastinate's psycopg connector from a SQLAlchemy-style URL."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.get_backend_name() != "postgresql":
        raise UserInputError(f"--queue {url!r}: the farm queue is procrastinate on PostgreSQL; give a "
                             "postgresql://user:password@host/db URL")
    return u.set(drivername="postgresql").render_as_string(hide_password=False)


def make_app(url: str, *, worker_options: dict | None = None):
    """A procrastinate App on `url`, with the farm's tasks registered."""
    try:
        import procrastinate
    except ImportError:
        raise UserInputError("--queue needs procrastinate: pip install 'edgeeval[farm]'") from None
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=_conninfo(url)),
                            worker_defaults=worker_options or {})
    app.task(name=TASK, queue=QUEUE, pass_context=True)(_job_task)
    return app


def ensure_schema(app, url: str) -> None:
    """procrastinate's tables, made once in a database that lacks them; a session advisory lock keeps
    two controllers starting at once from both making them."""
    from sqlalchemy import create_engine, text

    eng = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://")
                        else url)
    try:
        with eng.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": 0x65656671})
            conn.commit()
            try:
                have = conn.execute(text("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")).scalar()
                conn.commit()
                if not have:
                    with app.open():
                        app.schema_manager.apply_schema()
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": 0x65656671})
                conn.commit()
    finally:
        eng.dispose()


# ---- enqueue

@dataclass
class Enqueued:
    campaign: str
    queued: int
    already_queued: int
    finished: int
    failed: list[JobOutcome]


def enqueue(plan_path: str | Path, queue_url: str, *, inventory=None, store_url: str | None = None,
            campaign: str | None = None, notify=None, when: float | None = None) -> Enqueued:
    from procrastinate import exceptions

    plan = load_plan(plan_path, inventory)
    fr = FarmRun(plan, store_url=store_url or queue_url, campaign=campaign or campaign_name(plan, when),
                 notify=notify)
    todo = fr.setup()
    app = make_app(queue_url)
    ensure_schema(app, queue_url)
    queued = dup = 0
    with app.open():
        task = app.tasks[TASK]
        for s in todo:
            try:
                task.configure(lock=s.candidates[0] if s.pinned else None,
                               queueing_lock=f"{fr.campaign}:{s.key}").defer(**_task_args(fr, s, 1))
                queued += 1
            except exceptions.AlreadyEnqueued:
                dup += 1
    failed = [o for o in fr.outcomes.values() if not o.earlier]
    finished = sum(1 for o in fr.outcomes.values() if o.earlier)
    fr.store.close()
    return Enqueued(fr.campaign, queued, dup, finished, failed)


# ---- execute (in a worker)

_RUNS: dict[tuple, FarmRun] = {}
_RUNS_LOCK = threading.Lock()


_WORKER: dict = {}          # this worker's queue_url and store_url (set by work())


def _farm_run(campaign: str, plan_path: str, inventory: str | None, store_url: str) -> FarmRun:
    """One FarmRun per (campaign, plan content) in this worker: built and referenced once."""
    from ..provenance import sha256_file

    key = (campaign, plan_path, sha256_file(plan_path), inventory, store_url)
    with _RUNS_LOCK:
        fr = _RUNS.get(key)
        if fr is None:
            plan = load_plan(plan_path, inventory)
            fr = FarmRun(plan, store_url=store_url, campaign=campaign)
            fr.setup()
            fr.by_key = {s.key: s for s in plan.jobs}
            _RUNS[key] = fr
        return fr


def _job_task(context, campaign: str, plan_path: str, inventory: str | None, job_key: str,
              attempt: int = 1) -> str:
    """One queued farm job, from start to its stored outcome."""
    from ..store import farm as fs

    if not Path(plan_path).is_file():
        log.error("campaign %s: the plan %s is not on this worker's machine; jobs need the same paths "
                  "on every controller (a shared folder or the same checkout)", campaign, plan_path)
        raise UserInputError(f"plan {plan_path} not found on this worker")
    fr = _farm_run(campaign, plan_path, inventory, _WORKER["store_url"])
    spec = fr.by_key.get(job_key)
    if spec is None:
        log.warning("job %s of %s is not in the plan any more (it changed since it was queued)", job_key[:12],
                    campaign)
        return "not in plan"
    row = fr._db(fs.farm_job, fr.campaign_id, job_key)
    if row is not None and fs.is_finished(row):
        return "finished earlier"
    out = run_queued(fr, spec, attempt)
    if out is None:       # re-deferred
        return "retry"
    fr._finish(spec, out)
    jobs = fr._db(fs.campaign_jobs, fr.campaign_id)
    if not any(j["status"] in ("queued", "running") for j in jobs):     # the campaign's last job
        from .runner import exit_code_of

        code = exit_code_of(j["status"] for j in jobs)
        fr._db(fs.finish_campaign, fr.campaign_id, "done" if code == 0 else "faults" if code == 3 else "failures")
    return out.status


def run_queued(fr: FarmRun, spec: JobSpec, attempt: int) -> JobOutcome | None:
    """Take a board for `spec` (its own, or the first free healthy one of its pool), check it when
    due, run the job. Returns the outcome, or None when the job was deferred again (a retry)."""
    from ..store import farm as fs
    from ..store.leases import BoardBusy, acquire, try_acquire

    h = fr.plan.file.health
    usable = [b for b in spec.candidates if not _quarantined(fr, b)]
    if not usable:
        why = "; ".join(f"{b}: {(fr._db(fs.health_of, b) or {}).get('reason')}" for b in spec.candidates)
        return JobOutcome(spec, "skipped", spec.candidates[0] if spec.pinned else None,
                          f"quarantined ({why})", attempts=attempt - 1)
    lease = board = None
    deadline = time.monotonic() + fr.plan.file.lease_wait_s
    job_label = f"{fr.campaign}: {spec.label}"
    while lease is None:
        if len(usable) == 1:
            board = usable[0]
            try:
                lease = fr._db(acquire, board, purpose="farm", job=job_label, ttl_s=fr.plan.file.lease_ttl_s,
                               wait=fr.plan.file.lease_wait_s > 0, timeout_s=fr.plan.file.lease_wait_s)
            except BoardBusy as exc:
                return JobOutcome(spec, "skipped", board, f"busy: {str(exc).splitlines()[0]}", attempts=attempt - 1)
            break
        for b in usable:
            got, _, _ = fr._db(try_acquire, b, purpose="farm", job=job_label, ttl_s=fr.plan.file.lease_ttl_s)
            if got is not None:
                lease, board = got.start_renewing(), b
                break
        if lease is None:
            if time.monotonic() > deadline:
                return JobOutcome(spec, "skipped", None, f"every board of {spec.selector} stayed busy for "
                                  f"{fr.plan.file.lease_wait_s:g} s", attempts=attempt - 1)
            time.sleep(1.0)
    try:
        info = fr.boards.setdefault(board, {"state": "healthy", "reason": None, "jobs": 0, "checks": 0,
                                            "current": None})
        dev = fr.plan.inventory.get(board)
        if h.enabled and _health_due(fr, board) and not fr._health(board, dev, info, lease):
            why = f"{board} quarantined: {info['reason']}"
            return JobOutcome(spec, "skipped", board, why, attempts=attempt - 1) if spec.pinned else \
                _defer_again(fr, spec, attempt)          # a pool job: another board of the pool takes it
        out = fr._run_job(spec, board, lease, attempt)
        if h.enabled:
            fr._db(fs.count_job, board)
        if out.status != "device_error":
            return out
        healthy = fr._health(board, dev, info, lease) if h.enabled else True   # the board, checked at once
        if out.attempts > spec.retries:
            return out
        if healthy or not spec.pinned:
            return _defer_again(fr, spec, attempt + 1)
        return JobOutcome(spec, "skipped", board, f"{board} quarantined after a fault ({out.reason}): "
                                                  f"{info['reason']}", attempts=out.attempts)
    finally:
        lease.release()


def _defer_again(fr: FarmRun, spec: JobSpec, attempt: int) -> None:
    """The job back on the queue (a retry, or a pool job whose board just left service)."""
    from ..store import farm as fs

    fr._db(fs.finish_job, fr.rows[spec.key]["id"], "queued", reason=f"queued again (attempt {attempt})")
    app = make_app(_WORKER["queue_url"])
    with app.open():
        app.tasks[TASK].configure(lock=spec.candidates[0] if spec.pinned else None).defer(
            **_task_args(fr, spec, attempt))
    return None


def _task_args(fr: FarmRun, spec: JobSpec, attempt: int) -> dict:
    """What a queued job carries: names and paths only — never a URL (it may hold a password);
    each worker has its own --queue and --store."""
    return {"campaign": fr.campaign, "plan_path": str(fr.plan.path.resolve()),
            "inventory": str(fr.plan.inventory_path.resolve()) if fr.plan.inventory_path else None,
            "job_key": spec.key, "attempt": attempt}


def _quarantined(fr: FarmRun, board: str) -> bool:
    from ..store import farm as fs
    from .runner import _recheck_due

    st = fr._db(fs.health_of, board)
    if st is None or st["state"] != "quarantined":
        return False
    return not (fr.plan.file.health.enabled and _recheck_due(st, fr.plan.file.health.recheck_after_s))


def _health_due(fr: FarmRun, board: str) -> bool:
    """Before the board's first job of this campaign, every N jobs, and while quarantined (a recheck)."""
    from ..store import farm as fs

    st = fr._db(fs.health_of, board)
    if st is None or st["checked_at"] is None or st["state"] == "quarantined":
        return True
    if st["checked_at"] < fr.campaign_row["created_at"]:
        return True
    return int(st["jobs_since_check"] or 0) >= fr.plan.file.health.every_jobs


# ---- the worker

def work(queue_url: str, *, concurrency: int = 4, until_empty: bool = False, schedule_plan: str | None = None,
         inventory=None, store_url: str | None = None, heartbeat_s: float = 10.0, stalled_after_s: float = 30.0,
         name: str | None = None) -> None:
    """Run a procrastinate worker for the farm's jobs (blocking)."""
    import asyncio
    import socket

    app = make_app(queue_url)
    ensure_schema(app, queue_url)
    _WORKER.update(queue_url=queue_url, store_url=store_url or queue_url)
    if schedule_plan is not None:
        plan = load_plan(schedule_plan, inventory)
        if not plan.file.schedule:
            raise UserInputError(f"{schedule_plan}: has no `schedule:`; add one (e.g. \"0 2 * * *\") or drop --plan")
        plan_path, inv = str(plan.path.resolve()), inventory

        def scheduled(timestamp: int) -> None:
            res = enqueue(plan_path, queue_url, inventory=inv, store_url=store_url, when=float(timestamp))
            log.info("scheduled campaign %s: %d queued, %d already queued, %d finished earlier",
                     res.campaign, res.queued, res.already_queued, res.finished)

        app.periodic(cron=plan.file.schedule, periodic_id=plan.name)(
            app.task(name=SCHEDULE_TASK, queue=QUEUE, queueing_lock=f"schedule:{plan.name}")(scheduled))

    async def main() -> None:
        async with app.open_async():
            stop = asyncio.Event()

            async def recover() -> None:      # jobs of workers whose heartbeat stopped go back to the queue
                while not stop.is_set():
                    try:
                        for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after_s,
                                                                          queue=QUEUE):
                            log.warning("job %s was running on a worker that stopped; queued again", job.id)
                            await app.job_manager.retry_job(job)
                        await app.job_manager.prune_stalled_workers(seconds_since_heartbeat=stalled_after_s)
                    except Exception as exc:   # a database hiccup: try again next round
                        log.warning("stalled-job recovery failed: %s", exc)
                    try:
                        await asyncio.wait_for(stop.wait(), timeout=max(1.0, stalled_after_s / 3))
                    except asyncio.TimeoutError:
                        pass

            rec = asyncio.create_task(recover())
            worker = asyncio.create_task(app.run_worker_async(
                queues=[QUEUE], concurrency=concurrency, wait=True, name=name or f"edgeeval-{socket.gethostname()}",
                update_heartbeat_interval=heartbeat_s, stalled_worker_timeout=stalled_after_s, listen_notify=True,
                install_signal_handlers=True))
            try:
                if until_empty:
                    # not procrastinate's wait=False: that stops while a dead worker's job still waits to be
                    # recovered (and holds its board's lock); this stops when nothing is queued or running
                    while not worker.done():
                        await asyncio.sleep(1.0)
                        row = await app.connector.execute_query_one_async(
                            query="SELECT count(*) AS n FROM procrastinate_jobs "
                                  "WHERE queue_name = %(queue)s AND status IN ('todo', 'doing')", queue=QUEUE)
                        if row["n"] == 0:
                            worker.cancel()
                            break
                try:
                    await worker
                except asyncio.CancelledError:
                    pass
            finally:
                stop.set()
                await rec

    asyncio.run(main())


def wait_for_campaign(store_url: str, campaign: str, timeout_s: float | None = None, poll_s: float = 1.0) -> dict:
    """Block until no job of `campaign` is queued or running; returns its rows."""
    from ..store import farm as fs
    from ..store.store import Store

    t0 = time.monotonic()
    with Store(store_url) as st:
        row = fs.get_campaign(st.engine, campaign)
        if row is None:
            raise UserInputError(f"campaign {campaign!r} is not in the store")
        while True:
            jobs = fs.campaign_jobs(st.engine, row["id"])
            if not any(j["status"] in ("queued", "running") for j in jobs):
                return {"campaign": row, "jobs": jobs}
            if timeout_s is not None and time.monotonic() - t0 > timeout_s:
                raise DeviceError(f"campaign {campaign}: {sum(j['status'] in ('queued', 'running') for j in jobs)} "
                                  f"job(s) still queued or running after {timeout_s:g} s; are workers running?",
                                  hint="start one: edgeeval farm worker --queue URL")
            time.sleep(poll_s)
