"""The farm's rows in the results store: campaigns, their jobs, each board's health (schema.py).

A job row is keyed by (campaign, job identity hash): re-running a plan finds the rows it already
has, and a job whose row says ok or gate_failed (with its run stored) is not run again. Each
change is its own short transaction, so a controller killed at any moment leaves at most the job
in flight marked `running`; `campaign_jobs` shows such a row as aborted once nobody holds the
board's lease for it any more.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..scrub import scrub_text
from .leases import db_now
from .schema import (
    BOARD_STATES,
    FARM_JOB_FINISHED,
    FARM_JOB_STATUSES,
    board_health,
    board_leases,
    farm_campaigns,
    farm_jobs,
)
from .store import scrub, utc_now


def _me() -> tuple[str, int]:
    return socket.gethostname(), os.getpid()


# ---- campaigns

def open_campaign(engine, name: str, *, plan_name: str, plan_path: str, plan_sha256: str,
                  settings: dict | None = None) -> tuple[int, bool]:
    """The campaign `name` (made if new) marked running by this controller; (id, was it new)."""
    host, pid = _me()
    now = utc_now()
    values = dict(status="running", updated_at=now, finished_at=None, controller_host=host, controller_pid=pid,
                  plan_path=plan_path, plan_sha256=plan_sha256, settings=scrub(settings or {}))
    with engine.begin() as conn:
        row = conn.execute(select(farm_campaigns.c.id).where(farm_campaigns.c.name == name)).first()
        if row is not None:
            conn.execute(update(farm_campaigns).where(farm_campaigns.c.id == row.id).values(**values))
            return int(row.id), False
    try:
        with engine.begin() as conn:
            cid = conn.execute(insert(farm_campaigns).values(name=name, plan_name=plan_name, created_at=now,
                                                             **values)).inserted_primary_key[0]
            return int(cid), True
    except IntegrityError:   # another controller made it a moment ago
        return open_campaign(engine, name, plan_name=plan_name, plan_path=plan_path, plan_sha256=plan_sha256,
                             settings=settings)


def finish_campaign(engine, campaign_id: int, status: str) -> None:
    with engine.begin() as conn:
        now = utc_now()
        conn.execute(update(farm_campaigns).where(farm_campaigns.c.id == campaign_id)
                     .values(status=status, finished_at=now, updated_at=now))


def get_campaign(engine, name: str) -> dict | None:
    with engine.connect() as conn:
        row = conn.execute(select(farm_campaigns).where(farm_campaigns.c.name == name)).mappings().first()
        return dict(row) if row is not None else None


def list_campaigns(engine, limit: int = 20) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(select(farm_campaigns).order_by(farm_campaigns.c.id.desc()).limit(limit)).mappings()
        return [dict(r) for r in rows]


# ---- jobs

def add_jobs(engine, campaign_id: int, jobs: list[dict]) -> dict[str, dict]:
    """Rows for `jobs` (dicts with job_key, recipe_name, recipe_path, variant, selector), made
    `queued` where the campaign has none with that key; returns every row of these keys by key."""
    now = utc_now()
    with engine.begin() as conn:
        have = {r.job_key for r in conn.execute(select(farm_jobs.c.job_key)
                                                .where(farm_jobs.c.campaign_id == campaign_id))}
        new = [dict(j, campaign_id=campaign_id, status="queued", attempts=0, created_at=now)
               for j in jobs if j["job_key"] not in have]
        if new:
            conn.execute(insert(farm_jobs), new)
        keys = [j["job_key"] for j in jobs]
        rows = conn.execute(select(farm_jobs).where(farm_jobs.c.campaign_id == campaign_id,
                                                    farm_jobs.c.job_key.in_(keys))).mappings()
        return {r["job_key"]: dict(r) for r in rows}


def is_finished(row: dict) -> bool:
    return row["status"] in FARM_JOB_FINISHED and row.get("run_id") is not None


def start_job(engine, job_id: int, device: str) -> None:
    host, pid = _me()
    with engine.begin() as conn:
        conn.execute(update(farm_jobs).where(farm_jobs.c.id == job_id).values(
            status="running", device_name=device, started_at=utc_now(), finished_at=None, reason=None,
            attempts=farm_jobs.c.attempts + 1, holder_host=host, holder_pid=pid))


def finish_job(engine, job_id: int, status: str, *, reason: str | None = None, run_id: int | None = None,
               headline: dict | None = None, device: str | None = None) -> None:
    if status not in FARM_JOB_STATUSES:
        raise ValueError(f"farm job status {status!r} is not one of {FARM_JOB_STATUSES}")
    values: dict[str, Any] = dict(status=status, reason=scrub_text(reason), finished_at=utc_now())
    if run_id is not None:
        values["run_id"] = run_id
    if headline is not None:
        values["headline"] = scrub(headline)
    if device is not None:
        values["device_name"] = device
    with engine.begin() as conn:
        conn.execute(update(farm_jobs).where(farm_jobs.c.id == job_id).values(**values))


def farm_job(engine, campaign_id: int, job_key: str) -> dict | None:
    with engine.connect() as conn:
        row = conn.execute(select(farm_jobs).where(farm_jobs.c.campaign_id == campaign_id,
                                                   farm_jobs.c.job_key == job_key)).mappings().first()
        return dict(row) if row is not None else None


def campaign_jobs(engine, campaign_id: int) -> list[dict]:
    """The campaign's jobs in order; a `running` row whose holder no longer leases its board reads
    `aborted` (its controller died or lost the lease), with the reason."""
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(select(farm_jobs).where(farm_jobs.c.campaign_id == campaign_id)
                                              .order_by(farm_jobs.c.id)).mappings()]
        now = db_now(conn)
        leases = {r.device_name: r for r in conn.execute(select(board_leases)) if r.expires_at >= now}
    for r in rows:
        if r["status"] != "running":
            continue
        lease = leases.get(r["device_name"])
        if lease is None or (lease.holder_host, lease.holder_pid) != (r["holder_host"], r["holder_pid"]):
            r["status"] = "aborted"
            r["reason"] = (f"its controller ({r['holder_host']} pid {r['holder_pid']}) stopped holding the board's "
                           "lease; resume the campaign to run it again")
    return rows


# ---- board health

def health_of(engine, device: str) -> dict | None:
    with engine.connect() as conn:
        row = conn.execute(select(board_health).where(board_health.c.device_name == device)).mappings().first()
        return dict(row) if row is not None else None


def all_health(engine) -> dict[str, dict]:
    with engine.connect() as conn:
        return {r["device_name"]: dict(r) for r in conn.execute(select(board_health)).mappings()}


def _set_health(conn, device: str, **values) -> None:
    if values.get("state") is not None and values["state"] not in BOARD_STATES:
        raise ValueError(f"board state {values['state']!r} is not one of {BOARD_STATES}")
    n = conn.execute(update(board_health).where(board_health.c.device_name == device).values(**values)).rowcount
    if n == 0:
        values.setdefault("state", "healthy")
        values.setdefault("since", utc_now())
        values.setdefault("jobs_since_check", 0)
        conn.execute(insert(board_health).values(device_name=device, **values))


def record_check(engine, device: str, passed: bool, detail: dict, *, reason: str | None = None,
                 band_p50_ms: float | None = None, by: str = "health check") -> None:
    """A health check's outcome: passed makes the board healthy (and records its band the first
    time); failed quarantines it with `reason`."""
    now = utc_now()
    with engine.begin() as conn:
        old = conn.execute(select(board_health).where(board_health.c.device_name == device)).mappings().first()
        values: dict[str, Any] = dict(checked_at=now, check_passed=passed, check_detail=scrub(detail),
                                      jobs_since_check=0)
        if passed:
            if old is None or old["state"] != "healthy":
                values.update(state="healthy", since=now, reason=None, changed_by=by)
            if band_p50_ms is not None and (old is None or old["band_p50_ms"] is None):
                values["band_p50_ms"] = band_p50_ms
        else:
            values.update(state="quarantined", reason=scrub_text(reason), changed_by=by)
            if old is None or old["state"] != "quarantined":
                values["since"] = now
        _set_health(conn, device, **values)


def quarantine(engine, device: str, reason: str, by: str) -> None:
    with engine.begin() as conn:
        _set_health(conn, device, state="quarantined", reason=scrub_text(reason), since=utc_now(), changed_by=by)


def restore(engine, device: str, by: str) -> None:
    """Back into service by a person's decision (`devices restore --force`)."""
    with engine.begin() as conn:
        _set_health(conn, device, state="healthy", reason=None, since=utc_now(), changed_by=by)


def forget_band(engine, device: str) -> None:
    """The board's latency band is recorded again at its next passing check (new hardware, new OS)."""
    with engine.begin() as conn:
        conn.execute(update(board_health).where(board_health.c.device_name == device).values(band_p50_ms=None))


def count_job(engine, device: str) -> int:
    """One more job ran on the board since its last check; returns the new count."""
    with engine.begin() as conn:
        n = conn.execute(update(board_health).where(board_health.c.device_name == device)
                         .values(jobs_since_check=board_health.c.jobs_since_check + 1)).rowcount
        if n == 0:
            _set_health(conn, device, jobs_since_check=1)
        return int(conn.execute(select(board_health.c.jobs_since_check)
                                .where(board_health.c.device_name == device)).scalar())


def drop_health(engine, device: str) -> None:
    with engine.begin() as conn:
        conn.execute(delete(board_health).where(board_health.c.device_name == device))
