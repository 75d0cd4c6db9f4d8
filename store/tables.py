"""The SQLAlchemy Core tables the store queries; migrations/ creates them (keep both in step)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp: timestamptz on PostgreSQL, fixed-width UTC text on SQLite.

    Naive values are taken as UTC. SQLite's text form sorts and compares in time order.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        utc = as_utc(value)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)

    # SQLite: one function each way instead of ours composed with SQLAlchemy's (its text format is
    # `YYYY-MM-DD HH:MM:SS.ffffff`, which `isoformat` writes and `fromisoformat` reads, both in C).
    # About a dozen timestamps go each way per recorded result.

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        return _sqlite_text if dialect.name == "sqlite" else super().bind_processor(dialect)

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        parse = super().result_processor(dialect, coltype)  # (SQLAlchemy's, for text in another form)

        def process(value: str | None) -> datetime | None:
            if value is None:
                return None
            try:
                return as_utc(datetime.fromisoformat(value))
            except (TypeError, ValueError):
                return parse(value) if parse is not None else value  # type: ignore[return-value]

        return process


def _sqlite_text(value: datetime | None) -> str | None:
    """A timestamp as SQLite stores it: naive UTC text, fixed width."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = as_utc(value)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Byte-order ("C") collation for ids on PostgreSQL: same tie-break order as SQLite, cheap comparisons.
GlobalId = Text().with_variant(Text(collation="C"), "postgresql")
Sequential = BigInteger().with_variant(Integer(), "sqlite")  # INTEGER PRIMARY KEY = rowid on SQLite

metadata = MetaData()

ACTIVE_STATES = ("PENDING", "RETRYING", "UNCONFIRMED")  # a result still to be delivered
ACTIVE_SQL = f"delivery_state IN ({', '.join(repr(state) for state in ACTIVE_STATES)})"

orders = Table(
    "orders",
    metadata,
    Column("id", GlobalId, primary_key=True),
    Column("connection_id", Text, nullable=False),
    Column("provider", Text, nullable=False),
    Column("provider_order_id", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("package_id", Text),
    Column("candidate_emails", Text, nullable=False),
    Column("candidate_name", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("data", Text, nullable=False),
    UniqueConstraint("connection_id", "provider_order_id", name="uq_orders_connection_order"),
    Index("ix_orders_created_at_id", "created_at", "id"),
    Index("ix_orders_updated_at_id", "updated_at", "id"),
    Index("ix_orders_connection_created_at_id", "connection_id", "created_at", "id"),  # a connection's pages
    Index("ix_orders_connection_updated_at_id", "connection_id", "updated_at", "id"),
    Index("ix_orders_status", "status"),
    Index("ix_orders_provider", "provider"),
)

results = Table(
    "results",
    metadata,
    Column("seq", Sequential, primary_key=True, autoincrement=True),
    Column("id", Text, nullable=False),
    Column("order_id", GlobalId, ForeignKey("orders.id", name="fk_results_order_id"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("idempotency_key", Text),
    Column("request_body", Text, nullable=False),
    Column("data", Text, nullable=False),
    Column("delivery", Text, nullable=False),
    Column("delivery_state", Text, nullable=False),
    Column("delivery_attempts", Integer, nullable=False),
    Column("delivery_updated_at", UtcDateTime),
    Column("connection_id", Text),
    Column("prepared", Text),  # the PreparedWrite as JSON: what every attempt sends
    Column("delivery_next_attempt_at", UtcDateTime),
    Column("claimed_by", Text),  # the instance sending it now, until claim_until
    Column("claim_until", UtcDateTime),
    UniqueConstraint("id", name="uq_results_id"),
    Index("ix_results_due", "delivery_state", "delivery_next_attempt_at"),  # also every read by state (0011)
    # Keyed results only (migration 0011): a result without a key adds no entry.
    Index("uq_results_order_idempotency_key", "order_id", "idempotency_key", unique=True,
          sqlite_where=text("idempotency_key IS NOT NULL"), postgresql_where=text("idempotency_key IS NOT NULL")),
    Index("ix_results_order_seq", "order_id", "seq"),  # newer than / latest of an order (migration 0010)
    # An order's results still to be delivered (migration 0010); the store's IS_ACTIVE is this condition.
    Index("ix_results_active_order", "order_id", sqlite_where=text(ACTIVE_SQL), postgresql_where=text(ACTIVE_SQL)),
)

# One row per order that was ever sent: whoever holds it (until lease_until) is the only sender.
# `token` grows with every claim (the fencing token an outcome is checked against); `sending` is 1
# while a request may be out; a lease with holder '' and a future lease_until is a quarantine.
delivery_leases = Table(
    "delivery_leases",
    metadata,
    Column("order_id", GlobalId, primary_key=True),
    Column("result_id", Text, nullable=False),
    Column("holder", Text, nullable=False),
    Column("lease_until", UtcDateTime, nullable=False),
    Column("token", BigInteger, nullable=False, server_default="0"),
    Column("sending", Integer, nullable=False, server_default="0"),
)

webhook_events = Table(
    "webhook_events",
    metadata,
    Column("seq", Sequential, primary_key=True, autoincrement=True),
    Column("connection_id", Text, nullable=False),
    Column("event_key", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("order_ids", Text, nullable=False),  # JSON list of global order ids
    Column("received_at", UtcDateTime, nullable=False),
    Column("payload", Text, nullable=False),
    UniqueConstraint("connection_id", "event_key", name="uq_webhook_events_key"),
)

sync_state = Table(
    "sync_state",
    metadata,
    Column("connection_id", Text, primary_key=True),
    Column("created_after", UtcDateTime),
    Column("cursor", Text),
    Column("run_started_at", UtcDateTime),
    Column("lease_until", UtcDateTime),
    Column("last_finished_at", UtcDateTime),
    Column("last_error", Text),
    Column("orders_seen", Integer, nullable=False, server_default="0"),
)

persisted_documents = Table(
    "persisted_documents",
    metadata,
    Column("source", Text, primary_key=True),  # "apq" or the name of the manifest it was loaded from
    Column("id", Text, primary_key=True),  # sha256 hex of the body, or a manifest's own id
    Column("body", Text, nullable=False),
    Column("body_hash", Text, nullable=False),  # sha256 hex of the body (safelist match of full text)
    Column("operation_name", Text),
    Column("operation_type", Text),
    Column("client_name", Text),  # a manifest operation reserved to one client
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_persisted_documents_id", "id"),
    Index("ix_persisted_documents_body_hash", "body_hash"),
)

# The live-event log: one row per change of an order that subscribers are told about, kept for the
# retention window. `seq` is the log's order (commit order: appends are serialised). Pruned by `seq`,
# always keeping the newest event, so a new event's `seq` is larger than every earlier one (0012).
order_events = Table(
    "order_events",
    metadata,
    Column("seq", Sequential, primary_key=True, autoincrement=True),
    Column("kind", Text, nullable=False),
    Column("order_id", GlobalId, nullable=False),
    Column("connection_id", Text, nullable=False),
    Column("provider", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("at", UtcDateTime, nullable=False),
)

# One row: the key that makes event cursors opaque (shared by every instance on the store).
event_log_keys = Table(
    "event_log_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("cursor_key", Text, nullable=False),
)
