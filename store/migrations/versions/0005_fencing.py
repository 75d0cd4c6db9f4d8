"""Fenced delivery: a fencing token per order lease and a flag for a request that may be out; the
lease row outlives its holder (the token only grows), a quarantine is a lease nobody holds."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("delivery_leases") as batch:
        batch.add_column(sa.Column("token", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("sending", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("delivery_leases") as batch:
        batch.drop_column("sending")
        batch.drop_column("token")
