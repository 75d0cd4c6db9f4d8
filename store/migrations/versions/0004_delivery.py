"""Durable delivery: retry schedule, claims and the prepared write on results; one lease per order;
idempotency keys unique per order."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)
GLOBAL_ID = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("results") as batch:
        batch.add_column(sa.Column("connection_id", sa.Text()))
        batch.add_column(sa.Column("prepared", sa.Text()))
        batch.add_column(sa.Column("delivery_next_attempt_at", TIMESTAMP))
        batch.add_column(sa.Column("claimed_by", sa.Text()))
        batch.add_column(sa.Column("claim_until", TIMESTAMP))
    op.execute(
        "UPDATE results SET connection_id = (SELECT orders.connection_id FROM orders WHERE orders.id = results.order_id)"
    )
    # Results left PENDING by an interrupted write are due now.
    op.execute("UPDATE results SET delivery_next_attempt_at = created_at WHERE delivery_state = 'PENDING'")
    # Earlier versions kept a new row per repeat of a failed write; keep the key on the newest only.
    op.execute(
        "UPDATE results SET idempotency_key = NULL WHERE idempotency_key IS NOT NULL AND seq NOT IN "
        "(SELECT max(seq) FROM results WHERE idempotency_key IS NOT NULL GROUP BY order_id, idempotency_key)"
    )
    op.create_index("ix_results_due", "results", ["delivery_state", "delivery_next_attempt_at"])
    op.create_index("uq_results_order_idempotency_key", "results", ["order_id", "idempotency_key"], unique=True)
    op.create_table(
        "delivery_leases",
        sa.Column("order_id", GLOBAL_ID, primary_key=True),
        sa.Column("result_id", sa.Text(), nullable=False),
        sa.Column("holder", sa.Text(), nullable=False),
        sa.Column("lease_until", TIMESTAMP, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("delivery_leases")
    op.drop_index("uq_results_order_idempotency_key", "results")
    op.drop_index("ix_results_due", "results")
    with op.batch_alter_table("results") as batch:
        for name in ("claim_until", "claimed_by", "delivery_next_attempt_at", "prepared", "connection_id"):
            batch.drop_column(name)
