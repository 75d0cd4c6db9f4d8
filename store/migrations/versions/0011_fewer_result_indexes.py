"""Fewer b-trees to write per recorded result (each one is a page in the commit that must reach the
disk before the provider is called).

- `ix_results_delivery_state` goes: `ix_results_due` (delivery_state, delivery_next_attempt_at) begins
  with the same column and serves every read by state (the counts per state, the lists by state).
- `ix_results_order_latest` (order_id, created_at, seq) goes: since 0010 the order's results are
  read through `ix_results_order_seq` (newest, newer than) and `ix_results_active_order` (the waiting
  ones); nothing reads an order's results by time.
- `uq_results_order_idempotency_key` covers only results that have a key: a result written without
  one adds no entry (uniqueness among keyed results is unchanged; NULLs never collided)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

KEYED = sa.text("idempotency_key IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_results_delivery_state", table_name="results")
    op.drop_index("ix_results_order_latest", table_name="results")
    op.drop_index("uq_results_order_idempotency_key", table_name="results")
    op.create_index("uq_results_order_idempotency_key", "results", ["order_id", "idempotency_key"], unique=True,
                    sqlite_where=KEYED, postgresql_where=KEYED)  # fmt: skip


def downgrade() -> None:
    op.drop_index("uq_results_order_idempotency_key", table_name="results")
    op.create_index("uq_results_order_idempotency_key", "results", ["order_id", "idempotency_key"], unique=True)
    op.create_index("ix_results_order_latest", "results", ["order_id", "created_at", "seq"])
    op.create_index("ix_results_delivery_state", "results", ["delivery_state"])
