"""Order intake: the webhook events received and the Kombo sync state per connection."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)
SEQUENTIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "webhook_events",
        sa.Column("seq", SEQUENTIAL, primary_key=True, autoincrement=True),
        sa.Column("connection_id", sa.Text(), nullable=False),
        sa.Column("event_key", sa.Text(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("order_ids", sa.Text(), nullable=False),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.UniqueConstraint("connection_id", "event_key", name="uq_webhook_events_key"),
    )
    op.create_table(
        "sync_state",
        sa.Column("connection_id", sa.Text(), primary_key=True),
        sa.Column("created_after", TIMESTAMP),
        sa.Column("cursor", sa.Text()),
        sa.Column("run_started_at", TIMESTAMP),
        sa.Column("lease_until", TIMESTAMP),
        sa.Column("last_finished_at", TIMESTAMP),
        sa.Column("last_error", sa.Text()),
        sa.Column("orders_seen", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("sync_state")
    op.drop_table("webhook_events")
