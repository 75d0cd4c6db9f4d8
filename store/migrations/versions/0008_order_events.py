"""The live-event log (order_events) and the key of its opaque cursors."""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0005"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)
GLOBAL_ID = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
SEQUENTIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "order_events",
        sa.Column("seq", SEQUENTIAL, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("order_id", GLOBAL_ID, nullable=False),
        sa.Column("connection_id", sa.Text(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_order_events_at", "order_events", ["at"])
    keys = op.create_table(
        "event_log_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("cursor_key", sa.Text(), nullable=False),
    )
    op.bulk_insert(keys, [{"id": 1, "cursor_key": os.urandom(16).hex()}])


def downgrade() -> None:
    op.drop_table("event_log_keys")
    op.drop_index("ix_order_events_at", "order_events")
    op.drop_table("order_events")
