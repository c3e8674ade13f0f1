"""Results tables (SQLAlchemy Core, portable SQL only: SQLite and PostgreSQL).

runs             one row per `edgeeval deploy`, with provenance (device facts, versions, hashes)
variant_results  one row per variant: summary JSON plus headline columns for querying
raw_blobs        the raw data a summary is recomputed from (npy/npz bytes, latencies as i8dz, sha256-checked)
shared_blobs     raw data many variants share (server outputs, labels), stored once by sha256
board_leases     who measures on which board until when (store/leases.py): at most one row per board
farm_campaigns   one row per campaign of a farm plan (store/farm.py): a plan run over a day's matrix
farm_jobs        one row per (recipe, variant, board) job of a campaign, keyed by the job's identity hash
board_health     per board: healthy or quarantined (why, since when), the last health check, its band
board_noise      per board and job: an A/A calibration's run-to-run spread per metric (regress/noise.py)
Timestamps are UTC ISO-8601 strings so both back ends store and sort them the same way.
These tables are what the code queries; the database is made and upgraded by the Alembic
revisions in migrations/versions/ (store/migrate.py), which must end at exactly this schema
(tests/store/test_migrations.py compares them).
"""

from __future__ import annotations

from sqlalchemy import (
                        JSON,
                        BigInteger,
                        Boolean,
                        Column,
                        Float,
                        ForeignKey,
                        Index,
                        Integer,
                        LargeBinary,
                        MetaData,
                        String,
                        Table,
                        Text,
)

SCHEMA_VERSION = 1
RUN_STATUSES = ("running", "ok", "gate_failed", "device_error", "error", "aborted")
HEARTBEAT_S = 15.0          # a running deploy refreshes runs.heartbeat_at this often
STALE_AFTER_S = 120.0       # no heartbeat for this long: the controller is gone, the run is aborted
VARIANT_STATUSES = ("ok", "gate_failed", "error")

metadata = MetaData()

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("created_at", String(40), nullable=False),
    Column("finished_at", String(40)),
    Column("status", String(20), nullable=False),
    Column("command", Text),
    Column("recipe_name", String(200)),
    Column("recipe_hash", String(64)),
    Column("recipe_path", Text),
    Column("device_name", String(200)),
    Column("device_facts", JSON),
    Column("edgeeval_version", String(40)),
    Column("git_sha", String(64)),
    Column("git_sha_reason", Text),
    Column("controller", JSON),
    Column("agent_sha256", String(64)),
    Column("dataset_sha256", String(64)),
    Column("error", Text),
    Column("settings", JSON),
    Column("extra", JSON),
    Column("schema_version", Integer, nullable=False, default=SCHEMA_VERSION),
    # the controller running it: a run still `running` whose heartbeat stopped is shown as aborted
    Column("controller_host", String(255)),
    Column("controller_pid", Integer),
    Column("heartbeat_at", String(40)),
    Index("ix_runs_recipe_name", "recipe_name"),
    Index("ix_runs_device_name", "device_name"),
)

variant_results = Table(
    "variant_results", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("precision", String(40)),
    Column("model_sha256", String(64)),
    Column("model_size_bytes", BigInteger),
    Column("started_at", String(40)),
    Column("finished_at", String(40)),
    Column("status", String(20), nullable=False),
    Column("summary", JSON),
    Column("p50_ms", Float),
    Column("p90_ms", Float),
    Column("p99_ms", Float),
    Column("top1", Float),
    Column("accuracy_drop_pt", Float),
    Column("passed", Boolean),
    Column("runtime", JSON),
    # what summarize_variant needs besides the blobs: event scalars, gates, baseline accuracy
    Column("inputs", JSON),
    Column("error", Text),
    Column("extra", JSON),
    Index("ix_variant_results_run_id", "run_id"),
)

raw_blobs = Table(
    "raw_blobs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("variant_result_id", Integer, ForeignKey("variant_results.id", ondelete="CASCADE"),
           nullable=False),
    Column("kind", String(40), nullable=False),
    Column("encoding", String(10), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("bytes", LargeBinary, nullable=False),
    Index("ix_raw_blobs_variant_kind", "variant_result_id", "kind", unique=True),
)

# Raw data that many variants share (the server's outputs of a (model, dataset), its labels...),
# stored once by its sha256; a raw_blobs row with encoding "shared" points here by that sha256.
shared_blobs = Table(
    "shared_blobs", metadata,
    Column("sha256", String(64), primary_key=True),
    Column("encoding", String(10), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("bytes", LargeBinary, nullable=False),
    Column("created_at", String(40), nullable=False),
)

# One row per leased board; the primary key is what makes a second holder impossible. Times are
# epoch seconds of the database's clock (PostgreSQL's, or the one SQLite machine's), so
# controllers with skewed clocks still agree on when a lease expired.
board_leases = Table(
    "board_leases", metadata,
    Column("device_name", String(200), primary_key=True),
    Column("token", String(36), nullable=False),
    Column("holder_host", String(255), nullable=False),
    Column("holder_pid", Integer, nullable=False),
    Column("holder_job", Text),
    Column("purpose", String(40), nullable=False),
    Column("acquired_at", Float, nullable=False),
    Column("renewed_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

FARM_JOB_STATUSES = ("queued", "running", "ok", "gate_failed", "device_error", "error", "skipped", "aborted")
FARM_JOB_FINISHED = ("ok", "gate_failed")   # a job with one of these is not run again on resume

farm_campaigns = Table(
    "farm_campaigns", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("plan_name", String(200), nullable=False),
    Column("plan_path", Text),
    Column("plan_sha256", String(64)),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40)),
    Column("finished_at", String(40)),
    Column("status", String(20), nullable=False),
    Column("controller_host", String(255)),
    Column("controller_pid", Integer),
    Column("settings", JSON),
)

farm_jobs = Table(
    "farm_jobs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("campaign_id", Integer, ForeignKey("farm_campaigns.id", ondelete="CASCADE"), nullable=False),
    Column("job_key", String(64), nullable=False),
    Column("recipe_name", String(200)),
    Column("recipe_path", Text),
    Column("variant", String(200), nullable=False),
    Column("selector", Text, nullable=False),
    Column("device_name", String(200)),          # the board that ran it (last attempt)
    Column("status", String(20), nullable=False),
    Column("reason", Text),
    Column("attempts", Integer, nullable=False, default=0),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="SET NULL")),
    Column("created_at", String(40), nullable=False),
    Column("started_at", String(40)),
    Column("finished_at", String(40)),
    Column("headline", JSON),
    Column("holder_host", String(255)),
    Column("holder_pid", Integer),
    Index("ix_farm_jobs_campaign_key", "campaign_id", "job_key", unique=True),
)

BOARD_STATES = ("healthy", "quarantined")

board_health = Table(
    "board_health", metadata,
    Column("device_name", String(200), primary_key=True),
    Column("state", String(20), nullable=False),
    Column("reason", Text),
    Column("since", String(40), nullable=False),
    Column("checked_at", String(40)),
    Column("check_passed", Boolean),
    Column("check_detail", JSON),
    Column("band_p50_ms", Float),               # the known model's p50 on this board when first healthy
    Column("jobs_since_check", Integer, nullable=False, default=0),
    Column("changed_by", Text),
)


board_noise = Table(
    "board_noise", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device_name", String(200), nullable=False),
    Column("hardware_digest", String(12), nullable=False),   # regress.identity.key_digest(hardware_key)
    Column("recipe_name", String(200), nullable=False),
    Column("variant", String(200), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("runs", Integer, nullable=False),
    Column("run_ids", JSON, nullable=False),
    Column("metrics", JSON, nullable=False),   # {metric: {values, cv_total, cv_within, cv_run, mde_pct, ...}}
    Column("detail", JSON),
    Index("ix_board_noise_device", "device_name", "recipe_name", "variant"),
)
