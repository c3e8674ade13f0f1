"""Board leases: never two measurements on one board (issue 11).

A lease is a row of `board_leases` keyed by the board's name: taking it is one INSERT, which the
primary key lets only one controller win; an expired row (its holder stopped renewing) is deleted
in the same transaction first. The holder renews it every ttl/3 (`Lease.start_renewing`); a
renewal that finds its row gone or owned by someone else marks the lease lost, and the holder
stops before it measures again (`Lease.check`). Times come from the database's clock, so every
controller of a shared PostgreSQL store agrees on them.

`edgeeval deploy` and every farm job take the same lease in the store they write to. Controllers
that do not share a store are kept apart by the lock the agent holds on the board.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field

from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from ..errors import DeviceError
from .schema import board_leases

DEFAULT_TTL_S = 60.0


class BoardBusy(DeviceError):
    """The board is leased by someone else (and the caller chose not to wait, or stopped waiting)."""

    def __init__(self, holder: dict, device: str, *, waited_s: float | None = None):
        self.holder = holder
        waited = f" (waited {waited_s:.0f} s)" if waited_s else ""
        super().__init__(f"the board is in use{waited}: {describe(holder)}", device=device,
                         hint="wait for it (`--wait`), or see who holds which board with `edgeeval farm status`")


class LeaseLost(DeviceError):
    """Our lease expired (we could not renew it in time) or was taken: stop measuring."""


def describe(holder: dict, now: float | None = None) -> str:
    """"leased by HOST pid N for deploy of JOB, until T (in S s)" — for messages and status tables."""
    left = holder["expires_at"] - (now if now is not None else time.time())
    until = time.strftime("%H:%M:%S", time.localtime(holder["expires_at"]))
    job = f" ({holder['holder_job']})" if holder.get("holder_job") else ""
    return (f"leased by {holder['holder_host']} pid {holder['holder_pid']} for {holder['purpose']}{job}, "
            f"until {until} (in {max(left, 0):.0f} s unless renewed)")


def db_now(conn) -> float:
    """Epoch seconds by the database's clock (PostgreSQL), or this machine's (SQLite: one machine)."""
    if conn.dialect.name == "postgresql":
        return float(conn.execute(text("SELECT extract(epoch from clock_timestamp())")).scalar())
    return time.time()


@dataclass
class Lease:
    """A held lease. `check()` raises LeaseLost once a renewal failed; `release()` ends it."""

    engine: object
    device: str
    token: str
    ttl_s: float
    holder: dict
    lost: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def renew(self) -> bool:
        with self.engine.begin() as conn:
            now = db_now(conn)
            n = conn.execute(update(board_leases)
                             .where(board_leases.c.device_name == self.device, board_leases.c.token == self.token,
                                    board_leases.c.expires_at >= now)
                             .values(renewed_at=now, expires_at=now + self.ttl_s)).rowcount
        if n != 1 and self.lost is None:
            self.lost = (f"the lease on {self.device} expired or was taken before it could be renewed "
                         f"(ttl {self.ttl_s:g} s): this controller stalled or lost its store")
        return n == 1

    def start_renewing(self) -> Lease:
        """Renew every ttl/3 in a daemon thread until release(); a store hiccup is retried."""
        def loop():
            while not self._stop.wait(self.ttl_s / 3):
                try:
                    if not self.renew():
                        return
                except Exception:      # the store is briefly away: the next beat tries again
                    continue

        self._thread = threading.Thread(target=loop, name=f"edgeeval-lease-{self.device}", daemon=True)
        self._thread.start()
        return self

    def check(self) -> None:
        if self.lost:
            raise LeaseLost(self.lost + "; nothing more is measured on it under this lease",
                            device=self.device, hint="the variants stored before this point are kept")

    def release(self) -> None:
        self._stop.set()
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(board_leases).where(board_leases.c.device_name == self.device,
                                                        board_leases.c.token == self.token))
        except Exception:       # the row then expires on its own within ttl
            pass

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def holder_of(engine, device: str) -> dict | None:
    """The live lease on `device`, or None (an expired row counts as free)."""
    with engine.connect() as conn:
        now = db_now(conn)
        row = conn.execute(select(board_leases).where(board_leases.c.device_name == device)).mappings().first()
    return dict(row) if row is not None and row["expires_at"] >= now else None


def break_lease(engine, device: str) -> dict | None:
    """Remove the lease on `device` whoever holds it (`edgeeval devices release`: a person decided
    its holder is gone); returns the row removed. A live holder finds out at its next renewal
    (LeaseLost) and stores nothing more."""
    with engine.begin() as conn:
        row = conn.execute(select(board_leases).where(board_leases.c.device_name == device)).mappings().first()
        if row is not None:
            conn.execute(delete(board_leases).where(board_leases.c.device_name == device,
                                                    board_leases.c.token == row["token"]))
        return dict(row) if row is not None else None


def all_leases(engine) -> list[dict]:
    """Every lease row, live or expired (`expired` says which), ordered by board."""
    with engine.connect() as conn:
        now = db_now(conn)
        rows = conn.execute(select(board_leases).order_by(board_leases.c.device_name)).mappings().all()
    return [{**dict(r), "expired": r["expires_at"] < now} for r in rows]


def try_acquire(engine, device: str, *, purpose: str, job: str | None = None,
                ttl_s: float = DEFAULT_TTL_S) -> tuple[Lease | None, dict | None, dict | None]:
    """(lease, None, expired) when taken, (None, holder, None) when someone holds it, (None, None,
    None) when the holder's row vanished while we looked (try again). `expired` is the row of a
    holder whose lease ran out and was removed to take this one (None otherwise)."""
    token = str(uuid.uuid4())
    me = {"holder_host": socket.gethostname(), "holder_pid": os.getpid(), "holder_job": job, "purpose": purpose}
    expired = None
    try:
        with engine.begin() as conn:
            now = db_now(conn)
            old = conn.execute(select(board_leases).where(board_leases.c.device_name == device,
                                                          board_leases.c.expires_at < now)).mappings().first()
            if old is not None:
                expired = dict(old)
                conn.execute(delete(board_leases).where(board_leases.c.device_name == device,
                                                        board_leases.c.token == old["token"]))
            row = {"device_name": device, "token": token, **me, "acquired_at": now, "renewed_at": now,
                   "expires_at": now + ttl_s}
            conn.execute(insert(board_leases).values(**row))
    except IntegrityError:
        holder = holder_of(engine, device)
        return None, holder, None   # holder None: it expired between our two looks, try again
    return Lease(engine, device, token, ttl_s, row), None, expired


def acquire(engine, device: str, *, purpose: str, job: str | None = None, ttl_s: float = DEFAULT_TTL_S,
            wait: bool = True, timeout_s: float | None = None, poll_s: float = 1.0,
            on_wait=None) -> Lease:
    """Take the lease on `device`, renewing it from then on. Held by someone else: with `wait`,
    poll (on_wait(holder) is told once per new holder) until it is free or `timeout_s` passed;
    without, raise BoardBusy naming the holder."""
    t0 = time.monotonic()
    told = None
    while True:
        lease, holder, _ = try_acquire(engine, device, purpose=purpose, job=job, ttl_s=ttl_s)
        if lease is not None:
            return lease.start_renewing()
        if holder is None:
            continue
        if not wait or (timeout_s is not None and time.monotonic() - t0 >= timeout_s):
            raise BoardBusy(holder, device, waited_s=time.monotonic() - t0 if wait else None)
        if on_wait is not None and holder.get("token") != told:
            told = holder.get("token")
            on_wait(holder)
        time.sleep(poll_s)
