"""The results store: runs, variants and their raw data, on any SQLAlchemy URL.

Each call is its own committed transaction, so a crash after a variant keeps that variant.
JSON fields are scrubbed of secret-looking keys before they are written.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import uuid as uuidlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import create_engine, event, func, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from ..errors import RunNotFoundError, StoreIntegrityError, UserInputError  # noqa: F401 (re-exported)
from ..rawdata import split_event
from ..scrub import SCRUBBED, _is_secret_key, scrub_text  # noqa: F401 (scrub_text re-exported)
from .retry import retried
from .schema import (
    RUN_STATUSES,
    SCHEMA_VERSION,
    STALE_AFTER_S,
    VARIANT_STATUSES,
    raw_blobs,
    runs,
    shared_blobs,
    variant_results,
)

_RUN_FIELDS = {c.name for c in runs.columns} - {"id", "uuid", "created_at", "finished_at",
                                                 "schema_version"}
_RUN_JSON = ("device_facts", "controller", "settings", "extra")
LATENCY_KINDS = ("latencies_ns", "warmup_ns")



def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def scrub(obj: Any) -> Any:
    """JSON-ready copy: secret-looking keys masked at any depth, numpy scalars made plain,
    non-finite floats kept as the strings 'nan'/'inf'/'-inf' (JSON has no NaN)."""
    if isinstance(obj, dict):
        return {str(k): (SCRUBBED if _is_secret_key(k) and v is not None else scrub(v))
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [scrub(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return scrub(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, str):
        return scrub_text(obj)       # every stored string passes the one scrubber
    if obj is None or isinstance(obj, (int, float, bool)):
        return obj
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot store a {type(obj).__name__} in a JSON field: {obj!r:.80}")


# content-addressed (shared_blobs): what every variant of a (model, dataset) repeats — the server's
# outputs, the labels, the embedding mask, a quantized artifact's controller outputs — is stored once
SHARED_KINDS = ("baseline_outputs", "labels", "embedding_mask", "controller_outputs")


def _encode(kind: str, value) -> tuple[bytes, str]:
    if kind in LATENCY_KINDS:      # delta + zigzag + byte planes + LZMA, lossless (store/codec.py)
        from .codec import encode_latencies

        return encode_latencies(np.asarray(value, dtype="<i8")), "i8dz"
    buf = io.BytesIO()
    if isinstance(value, dict):
        arrays = {str(k): np.asarray(v) for k, v in value.items()}
        for k, a in arrays.items():
            if a.dtype == object:
                raise TypeError(f"raw {kind}[{k!r}] has dtype object; only numeric arrays are stored")
        np.savez_compressed(buf, **arrays)
        return buf.getvalue(), "npz"
    arr = np.asarray(value, dtype="<i8") if kind in LATENCY_KINDS else np.asarray(value)
    if arr.dtype == object:
        raise TypeError(f"raw {kind} has dtype object; only numeric arrays are stored")
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue(), "npy"


def _put_shared(conn, digest: str, data: bytes, encoding: str) -> None:
    """Insert a shared blob unless that content is stored already (a concurrent writer may add it
    between the check and the insert: the savepoint keeps the outer transaction intact)."""
    from sqlalchemy.exc import IntegrityError

    if conn.execute(select(shared_blobs.c.sha256).where(shared_blobs.c.sha256 == digest)).first() is not None:
        return
    try:
        with conn.begin_nested():
            conn.execute(shared_blobs.insert().values(sha256=digest, encoding=encoding, size_bytes=len(data),
                                                      bytes=data, created_at=utc_now()))
    except IntegrityError:
        pass


def _decode(data: bytes, encoding: str):
    if encoding == "i8dz":
        from .codec import decode_latencies

        return decode_latencies(data)
    loaded = np.load(io.BytesIO(data), allow_pickle=False)
    if encoding == "npz":
        with loaded:
            return {k: loaded[k] for k in loaded.files}
    return loaded


class Store:
    """Results database at `url` (default: edgeeval.paths.store_url()); tables made if missing."""

    def __init__(self, url: str | None = None):
        if url is None:
            from ..paths import store_url
            url = store_url()
        u = make_url(url)
        if u.drivername in ("postgresql", "postgres"):
            u = u.set(drivername="postgresql+psycopg")   # the `postgres` extra's driver (psycopg 3)
        kwargs: dict = {"json_serializer": lambda o: json.dumps(o, allow_nan=False), "json_deserializer": _json_loads,
                        "pool_pre_ping": True}   # a server restart leaves dead pooled connections behind
        if u.get_backend_name() == "sqlite":
            if u.database in (None, "", ":memory:"):
                kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
            else:
                Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
                kwargs["connect_args"] = {"timeout": 30}
        self.url = url
        self.engine = create_engine(u, **kwargs)
        if u.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _sqlite_foreign_keys)
        from .migrate import upgrade

        upgrade(self.engine)   # Alembic revisions: a store from an older release is upgraded in place

    def heartbeat(self, run_id: int) -> None:
        """The controller is alive and the run goes on (called every HEARTBEAT_S by a deploy)."""
        with self.engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(heartbeat_at=utc_now()))

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- runs ---------------------------------------------------------------------------------

    @retried
    def begin_run(self, **fields) -> int:
        """Insert a run in status 'running' and commit at once; returns its id."""
        unknown = sorted(set(fields) - _RUN_FIELDS)
        if unknown:
            raise TypeError(f"begin_run: unknown field(s) {', '.join(unknown)}; "
                            f"known: {', '.join(sorted(_RUN_FIELDS))}")
        row = dict(fields)
        row.setdefault("status", "running")
        _check_status(row["status"], RUN_STATUSES, "run")
        if "edgeeval_version" not in row:
            from .. import __version__
            row["edgeeval_version"] = __version__
        if row.get("git_sha") is None and not row.get("git_sha_reason"):
            row["git_sha_reason"] = "not reported by the caller"
        row = {k: scrub(v) if k in _RUN_JSON else scrub_text(v) if k in ("command", "error") else v
               for k, v in row.items()}
        row.update(uuid=str(uuidlib.uuid4()), created_at=utc_now(), schema_version=SCHEMA_VERSION)
        if row["status"] == "running":
            import os
            import socket
            row.setdefault("controller_host", socket.gethostname())
            row.setdefault("controller_pid", os.getpid())
            row.setdefault("heartbeat_at", row["created_at"])
        with self.engine.begin() as conn:
            return int(conn.execute(runs.insert().values(**row)).inserted_primary_key[0])

    @retried
    def update_run(self, run_id: int, **fields) -> None:
        """Fill in run fields learnt later (e.g. device_facts after the probe); commits at once."""
        unknown = sorted(set(fields) - (_RUN_FIELDS - {"status"}))
        if unknown:
            raise TypeError(f"update_run: unknown field(s) {', '.join(unknown)}; "
                            "status is set by finish_run")
        row = {k: scrub(v) if k in _RUN_JSON else scrub_text(v) if k in ("command", "error") else v
               for k, v in fields.items()}
        with self.engine.begin() as conn:
            if conn.execute(update(runs).where(runs.c.id == run_id).values(**row)).rowcount == 0:
                raise self._no_run(run_id)

    @retried
    def finish_run(self, run_id: int, status: str, error: str | None = None) -> None:
        """Set the final status (ok|gate_failed|device_error|error) and finish time."""
        _check_status(status, RUN_STATUSES, "run")
        with self.engine.begin() as conn:
            res = conn.execute(update(runs).where(runs.c.id == run_id).values(
                status=status, error=scrub_text(error), finished_at=utc_now()))
            if res.rowcount == 0:
                raise self._no_run(run_id)

    @retried
    def list_runs(self, limit: int = 20, recipe: str | None = None,
                  device: str | None = None) -> list[dict]:
        """Newest runs first, each with its variant count and how many passed."""
        q = select(runs).order_by(runs.c.id.desc()).limit(limit)
        if recipe is not None:
            q = q.where(runs.c.recipe_name == recipe)
        if device is not None:
            q = q.where(runs.c.device_name == device)
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(q)]
            ids = [r["id"] for r in rows]
            counts: dict = {}
            if ids:
                cq = (select(variant_results.c.run_id, variant_results.c.passed, func.count())
                      .where(variant_results.c.run_id.in_(ids))
                      .group_by(variant_results.c.run_id, variant_results.c.passed))
                for run_id, passed, n in conn.execute(cq):
                    c = counts.setdefault(run_id, {"variants": 0, "variants_passed": 0})
                    c["variants"] += n
                    c["variants_passed"] += n if passed else 0
        for r in rows:
            r.update(counts.get(r["id"], {"variants": 0, "variants_passed": 0}))
            _mark_aborted(r)
        return rows

    def get_run(self, run_id: int) -> dict:
        """The run with its variants (summaries, not blobs; `raw_kinds` lists the blobs)."""
        return self.get_runs([run_id], inputs=True)[0]

    @retried
    def get_runs(self, run_ids: list[int], *, inputs: bool = False) -> list[dict]:
        """Runs with their variants, in id order, read in three queries whatever their number; the
        variants' `inputs` (what a summary is recomputed from: large, and no reader of many runs needs
        it) only with `inputs=True`, else None. An id not in the store raises RunNotFoundError."""
        ids = sorted(set(run_ids))
        if not ids:
            return []
        cols = [c for c in variant_results.c if inputs or c.name != "inputs"]
        out: dict[int, dict] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):      # bounded IN lists
                chunk = ids[i:i + 500]
                for r in conn.execute(select(runs).where(runs.c.id.in_(chunk))):
                    out[r.id] = {**dict(r._mapping), "variants": []}
                missing = [x for x in chunk if x not in out]
                if missing:
                    raise self._no_run(missing[0])
                vids = {}
                for v in conn.execute(select(*cols).where(variant_results.c.run_id.in_(chunk)).order_by(variant_results.c.id)):
                    d = {"inputs": None, **dict(v._mapping), "raw_kinds": []}
                    out[d["run_id"]]["variants"].append(d)
                    vids[d["id"]] = d
                for k in range(0, len(vids), 500):
                    part = list(vids)[k:k + 500]
                    q = (select(raw_blobs.c.variant_result_id, raw_blobs.c.kind)
                         .where(raw_blobs.c.variant_result_id.in_(part)).order_by(raw_blobs.c.id))
                    for vid, kind in conn.execute(q):
                        vids[vid]["raw_kinds"].append(kind)
        for r in out.values():
            _mark_aborted(r)
        return [out[i] for i in ids]

    # -- variants -----------------------------------------------------------------------------

    @retried
    def add_variant(self, run_id: int, name: str, *, summary: dict | None,
                    raw: dict[str, Any] | None = None, event: dict | None = None,
                    gates: dict | None = None, baseline_accuracy: float | None = None,
                    precision: str | None = None, model_sha256: str | None = None,
                    model_size_bytes: int | None = None, started_at: str | None = None,
                    finished_at: str | None = None, status: str | None = None,
                    runtime: dict | None = None, error: str | None = None,
                    extra: dict | None = None) -> int:
        """Store one variant and its raw data in its own committed transaction.

        `event` is the agent's result event: its latencies_ns/warmup_ns become blobs (unless
        `raw` has them) and its other fields, with `gates` and `baseline_accuracy`, are kept
        so evaluate.summary.recompute_variant can rebuild `summary` exactly.
        """
        raw = dict(raw or {})
        inputs = None
        if event is not None:
            scalars, lists = split_event(event)
            for kind, arr in lists.items():
                raw.setdefault(kind, arr)
            inputs = scrub({"event": scalars, "gates": gates or {},
                            "baseline_accuracy": baseline_accuracy,
                            "scoring": (summary or {}).get("scoring"),
                            "confidence": (summary or {}).get("latency", {}).get("confidence", 0.95)})
        if status is None:
            status = ("error" if error or summary is None
                      else "gate_failed" if not summary.get("passed") else "ok")
        _check_status(status, VARIANT_STATUSES, "variant")
        lat = (summary or {}).get("latency") or {}
        acc = (summary or {}).get("accuracy") or {}
        row = dict(run_id=run_id, name=name, precision=precision, model_sha256=model_sha256,
                   model_size_bytes=model_size_bytes, started_at=started_at,
                   finished_at=finished_at or utc_now(), status=status,
                   summary=None if summary is None else scrub(summary),
                   p50_ms=lat.get("p50"), p90_ms=lat.get("p90"), p99_ms=lat.get("p99"),
                   top1=acc.get("top1"), accuracy_drop_pt=acc.get("drop_pt"),
                   passed=None if summary is None else bool(summary.get("passed")),
                   runtime=scrub(runtime), inputs=inputs, error=scrub_text(error),
                   extra=scrub(extra))
        blobs, shared = [], {}
        for kind, value in raw.items():
            if value is None:
                continue
            data, encoding = _encode(kind, value)
            digest = hashlib.sha256(data).hexdigest()
            if kind in SHARED_KINDS:       # the row points at the shared copy by its sha256
                shared[digest] = (data, encoding)
                blobs.append(dict(kind=kind, encoding="shared", bytes=b"", size_bytes=len(data), sha256=digest))
            else:
                blobs.append(dict(kind=kind, encoding=encoding, bytes=data, size_bytes=len(data), sha256=digest))
        with self.engine.begin() as conn:
            if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise self._no_run(run_id)
            for digest, (data, encoding) in shared.items():
                _put_shared(conn, digest, data, encoding)
            vid = int(conn.execute(variant_results.insert().values(**row)).inserted_primary_key[0])
            if blobs:
                conn.execute(raw_blobs.insert(), [dict(b, variant_result_id=vid) for b in blobs])
        return vid

    @retried
    def get_raw(self, variant_id: int, kind: str):
        """The raw array (npy) or dict of arrays (npz), verified against its sha256."""
        with self.engine.connect() as conn:
            row = conn.execute(select(raw_blobs).where(
                (raw_blobs.c.variant_result_id == variant_id) & (raw_blobs.c.kind == kind))).first()
            if row is None:
                raise KeyError(f"variant {variant_id} has no raw {kind!r} in {self._where()}")
            data, encoding = bytes(row.bytes), row.encoding
            if encoding == "shared":
                blob = conn.execute(select(shared_blobs).where(shared_blobs.c.sha256 == row.sha256)).first()
                if blob is None:
                    raise StoreIntegrityError(f"raw {kind!r} of variant {variant_id} points at shared blob "
                                              f"{row.sha256[:16]}…, which is missing from {self._where()}")
                data, encoding = bytes(blob.bytes), blob.encoding
        if hashlib.sha256(data).hexdigest() != row.sha256:
            raise StoreIntegrityError(f"raw {kind!r} of variant {variant_id} does not match its "
                                      f"sha256 in {self._where()}: the database was altered")
        return _decode(data, encoding)

    @retried
    def variant_inputs(self, variant_id: int) -> dict:
        """What a variant's summary is computed from: {"event", "gates", "baseline_accuracy", "scoring",
        "confidence", "raw": {kind: array or dict}} (evaluate.summary.recompute_variant)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(variant_results.c.inputs).where(
                variant_results.c.id == variant_id)).first()
            if row is None:
                raise RunNotFoundError(f"variant {variant_id} is not in {self._where()}")
            kinds = [k for (k,) in conn.execute(select(raw_blobs.c.kind).where(
                raw_blobs.c.variant_result_id == variant_id))]
        if row.inputs is None:
            raise UserInputError(f"variant {variant_id} was stored without its result event; "
                                 "it cannot be recomputed (only variants measured by a deploy can)")
        stored = dict(row.inputs)
        stored["raw"] = {k: self.get_raw(variant_id, k) for k in kinds}
        return stored

    # -- helpers ------------------------------------------------------------------------------

    def _where(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def _no_run(self, run_id) -> RunNotFoundError:
        return RunNotFoundError(f"run {run_id} is not in {self._where()}; "
                                "list runs with `edgeeval results list`")


try:
    import orjson as _orjson
except ImportError:   # pragma: no cover - orjson is a dependency; plain json reads the same documents
    _orjson = None


def _json_loads(text):
    """Stored JSON back to Python: orjson (4x faster on a farm's thousands of summaries) with the
    standard library behind it for what orjson refuses (an integer beyond 64 bits)."""
    if _orjson is not None:
        try:
            return _orjson.loads(text)
        except _orjson.JSONDecodeError:
            pass
    return json.loads(text)


def _mark_aborted(run: dict, now: datetime | None = None) -> None:
    """A `running` run whose controller is gone reads as `aborted`, with the reason (the row is kept).

    Gone: the same host and its pid no longer exists, or no heartbeat for STALE_AFTER_S.
    """
    if run.get("status") != "running":
        return
    import socket

    why = None
    host, pid, beat = run.get("controller_host"), run.get("controller_pid"), run.get("heartbeat_at")
    if host and pid and host == socket.gethostname() and not _pid_alive(int(pid)):
        why = f"controller process {pid} on {host} is gone"
    elif beat:
        age = ((now or datetime.now(timezone.utc)) - datetime.fromisoformat(beat)).total_seconds()
        if age > STALE_AFTER_S:
            why = f"no heartbeat from controller {host or '?'} (pid {pid}) for {age:.0f} s"
    elif run.get("created_at"):   # stored by an edgeeval without heartbeats
        age = ((now or datetime.now(timezone.utc)) - datetime.fromisoformat(run["created_at"])).total_seconds()
        if age > 24 * 3600:
            why = "still `running` a day after it started, and stored without a heartbeat"
    if why:
        run["status"] = "aborted"
        run["aborted_reason"] = why


def _pid_alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # exists, another user's
        return True
    return True


def _check_status(status: str, allowed: tuple, what: str) -> None:
    if status not in allowed:
        raise ValueError(f"{what} status {status!r} is not one of {', '.join(allowed)}")


def _sqlite_foreign_keys(dbapi_conn, _record) -> None:
    """Foreign keys on; and write-ahead logging for a file store: many writers of a farm (a thread per
    board, heartbeats, lease renewals) commit with one fsync each instead of a rollback journal's
    several, and readers (`farm status`, `results list`) never wait for a writer. synchronous=FULL
    keeps every committed measurement across a power cut, not just a crash."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode")
    mode = cur.fetchone()
    if mode and str(mode[0]).lower() not in ("memory", "wal"):
        cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.close()
