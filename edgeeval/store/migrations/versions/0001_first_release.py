"""The first release's tables: runs, variant_results, raw_blobs."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(36), nullable=False, unique=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("finished_at", sa.String(40)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("command", sa.Text),
        sa.Column("recipe_name", sa.String(200)),
        sa.Column("recipe_hash", sa.String(64)),
        sa.Column("recipe_path", sa.Text),
        sa.Column("device_name", sa.String(200)),
        sa.Column("device_facts", sa.JSON),
        sa.Column("edgeeval_version", sa.String(40)),
        sa.Column("git_sha", sa.String(64)),
        sa.Column("git_sha_reason", sa.Text),
        sa.Column("controller", sa.JSON),
        sa.Column("agent_sha256", sa.String(64)),
        sa.Column("dataset_sha256", sa.String(64)),
        sa.Column("error", sa.Text),
        sa.Column("settings", sa.JSON),
        sa.Column("extra", sa.JSON),
        sa.Column("schema_version", sa.Integer, nullable=False),
    )
    op.create_index("ix_runs_recipe_name", "runs", ["recipe_name"])
    op.create_index("ix_runs_device_name", "runs", ["device_name"])
    op.create_table(
        "variant_results",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("precision", sa.String(40)),
        sa.Column("model_sha256", sa.String(64)),
        sa.Column("model_size_bytes", sa.BigInteger),
        sa.Column("started_at", sa.String(40)),
        sa.Column("finished_at", sa.String(40)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("summary", sa.JSON),
        sa.Column("p50_ms", sa.Float),
        sa.Column("p90_ms", sa.Float),
        sa.Column("p99_ms", sa.Float),
        sa.Column("top1", sa.Float),
        sa.Column("accuracy_drop_pt", sa.Float),
        sa.Column("passed", sa.Boolean),
        sa.Column("runtime", sa.JSON),
        sa.Column("inputs", sa.JSON),
        sa.Column("error", sa.Text),
        sa.Column("extra", sa.JSON),
    )
    op.create_index("ix_variant_results_run_id", "variant_results", ["run_id"])
    op.create_table(
        "raw_blobs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("variant_result_id", sa.Integer, sa.ForeignKey("variant_results.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("encoding", sa.String(10), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("bytes", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_raw_blobs_variant_kind", "raw_blobs", ["variant_result_id", "kind"], unique=True)
