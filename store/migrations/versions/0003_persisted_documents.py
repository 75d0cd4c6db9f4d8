"""Persisted GraphQL documents (automatic persisted queries and trusted documents), shared by every instance."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "persisted_documents",
        sa.Column("id", sa.Text(), primary_key=True),  # sha256 hex of the body, or a manifest's own id
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),  # "apq" or the manifest it was loaded from
        sa.Column("created_at", TIMESTAMP, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("persisted_documents")
