"""Per-board A/A noise calibrations (`edgeeval devices calibrate`): run-to-run spread per metric."""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "board_noise",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("device_name", sa.String(200), nullable=False),
        sa.Column("hardware_digest", sa.String(12), nullable=False),
        sa.Column("recipe_name", sa.String(200), nullable=False),
        sa.Column("variant", sa.String(200), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("runs", sa.Integer, nullable=False),
        sa.Column("run_ids", sa.JSON, nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("detail", sa.JSON),
    )
    op.create_index("ix_board_noise_device", "board_noise", ["device_name", "recipe_name", "variant"])
