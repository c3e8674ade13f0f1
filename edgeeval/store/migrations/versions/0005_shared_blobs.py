"""Raw data many variants share (the server's outputs of a (model, dataset), labels, masks) stored once
by sha256; latency series in the i8dz encoding need no schema change (raw_blobs.encoding says which)."""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shared_blobs",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("encoding", sa.String(10), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("bytes", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
