"""The controller running a run (host, pid) and its heartbeat: a `running` run whose heartbeat
stopped reads as aborted."""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("controller_host", sa.String(255)))
    op.add_column("runs", sa.Column("controller_pid", sa.Integer))
    op.add_column("runs", sa.Column("heartbeat_at", sa.String(40)))
