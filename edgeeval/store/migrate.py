"""Bring a results store to the current schema (Alembic revisions in migrations/versions/).

Opening a store costs one small query when it is current; alembic is imported only when a
revision must run. A store written before migrations existed (no alembic_version table) is
stamped with the revision its tables match, then upgraded. On PostgreSQL a transaction-scoped
advisory lock serialises controllers that open a fresh shared store at the same moment.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

HEAD = "0006"                   # the newest revision; tests/store/test_migrations.py checks it
_LOCK_KEY = 0x65646765          # pg_advisory_xact_lock key ("edge")
SCRIPTS = Path(__file__).with_name("migrations")


def revision(conn: Connection) -> str | None:
    """The store's revision; None for an empty database; "legacy:NNNN" for a pre-migration store."""
    tables = set(inspect(conn).get_table_names())
    if "alembic_version" in tables:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    if "runs" not in tables:
        return None
    cols = {c["name"] for c in inspect(conn).get_columns("runs")}
    return "legacy:0002" if "heartbeat_at" in cols else "legacy:0001"


def upgrade(engine: Engine) -> str | None:
    """Upgrade to HEAD; returns the revision the store had (None: it was empty)."""
    with engine.connect() as conn:
        if revision(conn) == HEAD:
            return HEAD
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        before = revision(conn)          # again, under the lock: another controller may have done it
        if before == HEAD:
            return before
        cfg.attributes["connection"] = conn
        if before is not None and before.startswith("legacy:"):
            command.stamp(cfg, before.split(":", 1)[1])
        command.upgrade(cfg, "head")
    return before
