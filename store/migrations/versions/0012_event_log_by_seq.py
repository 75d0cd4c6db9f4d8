"""The live-event log is pruned by `seq`, so it needs no index on `at`, and on SQLite no AUTOINCREMENT.

Each of the two cost a page in every commit that appends an event (a recorded result's commit, which
must reach the disk before the provider is called, and its outcome's): the `at` index's leaf, and on
SQLite the `sqlite_sequence` row AUTOINCREMENT updates.

- `ix_order_events_at` goes. The prune deletes the events before the first one within the retention
  window, found by walking the log in `seq` order from its oldest event: it reads what it deletes.
- SQLite: `order_events` is rebuilt with `seq` as a plain rowid. AUTOINCREMENT kept a pruned newest
  `seq` from being given again; the prune now always keeps the newest event, so the largest `seq`
  never goes down and a new event's is always larger (SQLite gives the largest plus one). Where an
  earlier prune had removed the newest events, their numbers can be given again after this upgrade:
  any cursor naming them is older than the retention and refused for its time (EVENT_CURSOR_EXPIRED)."""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_COLUMNS = "seq, kind, order_id, connection_id, provider, status, at"


def _rebuild(autoincrement: bool) -> None:
    op.execute(
        "CREATE TABLE order_events_rebuilt (seq INTEGER NOT NULL PRIMARY KEY"
        f"{' AUTOINCREMENT' if autoincrement else ''}, kind TEXT NOT NULL, order_id TEXT NOT NULL, "
        "connection_id TEXT NOT NULL, provider TEXT NOT NULL, status TEXT NOT NULL, at DATETIME NOT NULL)"
    )
    op.execute(f"INSERT INTO order_events_rebuilt ({_COLUMNS}) SELECT {_COLUMNS} FROM order_events")
    op.execute("DROP TABLE order_events")
    op.execute("ALTER TABLE order_events_rebuilt RENAME TO order_events")


def upgrade() -> None:
    op.drop_index("ix_order_events_at", table_name="order_events")
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(autoincrement=False)
        op.execute("DELETE FROM sqlite_sequence WHERE name IN ('order_events', 'order_events_rebuilt')")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(autoincrement=True)
    op.create_index("ix_order_events_at", "order_events", ["at"])
