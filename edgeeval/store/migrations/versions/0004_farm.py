"""The farm: campaigns, their jobs (keyed by the job's identity hash) and each board's health."""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "farm_campaigns",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("plan_name", sa.String(200), nullable=False),
        sa.Column("plan_path", sa.Text),
        sa.Column("plan_sha256", sa.String(64)),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("updated_at", sa.String(40)),
        sa.Column("finished_at", sa.String(40)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("controller_host", sa.String(255)),
        sa.Column("controller_pid", sa.Integer),
        sa.Column("settings", sa.JSON),
    )
    op.create_table(
        "farm_jobs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("farm_campaigns.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("job_key", sa.String(64), nullable=False),
        sa.Column("recipe_name", sa.String(200)),
        sa.Column("recipe_path", sa.Text),
        sa.Column("variant", sa.String(200), nullable=False),
        sa.Column("selector", sa.Text, nullable=False),
        sa.Column("device_name", sa.String(200)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="SET NULL")),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("started_at", sa.String(40)),
        sa.Column("finished_at", sa.String(40)),
        sa.Column("headline", sa.JSON),
        sa.Column("holder_host", sa.String(255)),
        sa.Column("holder_pid", sa.Integer),
    )
    op.create_index("ix_farm_jobs_campaign_key", "farm_jobs", ["campaign_id", "job_key"], unique=True)
    op.create_table(
        "board_health",
        sa.Column("device_name", sa.String(200), primary_key=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("since", sa.String(40), nullable=False),
        sa.Column("checked_at", sa.String(40)),
        sa.Column("check_passed", sa.Boolean),
        sa.Column("check_detail", sa.JSON),
        sa.Column("band_p50_ms", sa.Float),
        sa.Column("jobs_since_check", sa.Integer, nullable=False),
        sa.Column("changed_by", sa.Text),
    )
