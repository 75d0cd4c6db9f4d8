"""Order pages of one connection in sort order: (connection_id, created_at, id) and (connection_id,
updated_at, id). Without them a page of 5 sorted every order of the connection first (the planner
took the (connection_id, provider_order_id) index and a temporary sort): its cost grew with the
connection's orders."""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_orders_connection_created_at_id", "orders", ["connection_id", "created_at", "id"])
    op.create_index("ix_orders_connection_updated_at_id", "orders", ["connection_id", "updated_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_orders_connection_updated_at_id", table_name="orders")
    op.drop_index("ix_orders_connection_created_at_id", table_name="orders")
