"""Board leases: one row per board being measured on (holder, job, expiry by the database clock)."""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "board_leases",
        sa.Column("device_name", sa.String(200), primary_key=True),
        sa.Column("token", sa.String(36), nullable=False),
        sa.Column("holder_host", sa.String(255), nullable=False),
        sa.Column("holder_pid", sa.Integer, nullable=False),
        sa.Column("holder_job", sa.Text),
        sa.Column("purpose", sa.String(40), nullable=False),
        sa.Column("acquired_at", sa.Float, nullable=False),
        sa.Column("renewed_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
