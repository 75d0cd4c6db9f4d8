"""Reads of an order's results that no longer grow with the order's history.

- `ix_results_order_seq` (order_id, seq): "a newer result of the order exists" (seq > ?) and "the
  order's latest result" (max(seq)) seek to their rows; through (order_id, created_at, seq) both went
  over every result the order ever had.
- `ix_results_active_order`, a partial index on `order_id` over active results (PENDING, RETRYING,
  UNCONFIRMED): recording a result looks for the order's other waiting results (to supersede them);
  that read also went over all of the order's results. Active results are few at any time."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ACTIVE = sa.text("delivery_state IN ('PENDING', 'RETRYING', 'UNCONFIRMED')")


def upgrade() -> None:
    op.create_index("ix_results_order_seq", "results", ["order_id", "seq"])
    op.create_index("ix_results_active_order", "results", ["order_id"], sqlite_where=ACTIVE, postgresql_where=ACTIVE)


def downgrade() -> None:
    op.drop_index("ix_results_active_order", table_name="results")
    op.drop_index("ix_results_order_seq", table_name="results")
