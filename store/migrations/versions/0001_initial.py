"""Initial schema: orders and results (with their delivery)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the types at this revision (do not import store.tables here).
GLOBAL_ID = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
SEQUENTIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", GLOBAL_ID, primary_key=True),
        sa.Column("connection_id", sa.Text(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("provider_order_id", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("package_id", sa.Text()),
        sa.Column("candidate_emails", sa.Text(), nullable=False),
        sa.Column("candidate_name", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.UniqueConstraint("connection_id", "provider_order_id", name="uq_orders_connection_order"),
    )
    op.create_index("ix_orders_created_at_id", "orders", ["created_at", "id"])
    op.create_index("ix_orders_updated_at_id", "orders", ["updated_at", "id"])
    op.create_index("ix_orders_status", "orders", ["status"])
    op.create_index("ix_orders_provider", "orders", ["provider"])
    op.create_table(
        "results",
        sa.Column("seq", SEQUENTIAL, primary_key=True, autoincrement=True),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("order_id", GLOBAL_ID, sa.ForeignKey("orders.id", name="fk_results_order_id"), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("idempotency_key", sa.Text()),
        sa.Column("request_body", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("delivery", sa.Text(), nullable=False),
        sa.Column("delivery_state", sa.Text(), nullable=False),
        sa.Column("delivery_attempts", sa.Integer(), nullable=False),
        sa.Column("delivery_updated_at", TIMESTAMP),
        sa.UniqueConstraint("id", name="uq_results_id"),
    )
    op.create_index("ix_results_order_latest", "results", ["order_id", "created_at", "seq"])
    op.create_index("ix_results_delivery_state", "results", ["delivery_state"])


def downgrade() -> None:
    op.drop_table("results")
    op.drop_table("orders")
