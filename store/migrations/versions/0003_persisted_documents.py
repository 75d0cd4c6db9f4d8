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
        sa.Column("source", sa.Text(), primary_key=True),  # "apq" or the manifest it was loaded from
        sa.Column("id", sa.Text(), primary_key=True),  # sha256 hex of the body, or a manifest's own id
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("body_hash", sa.Text(), nullable=False),  # sha256 hex of the body
        sa.Column("operation_name", sa.Text()),
        sa.Column("operation_type", sa.Text()),
        sa.Column("client_name", sa.Text()),  # a manifest operation reserved to one client
        sa.Column("created_at", TIMESTAMP, nullable=False),
    )
    op.create_index("ix_persisted_documents_id", "persisted_documents", ["id"])
    op.create_index("ix_persisted_documents_body_hash", "persisted_documents", ["body_hash"])


def downgrade() -> None:
    op.drop_table("persisted_documents")
