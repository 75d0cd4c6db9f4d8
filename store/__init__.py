"""Persistence of orders and results behind one async interface (SQLite by default, PostgreSQL to scale out)."""

from __future__ import annotations

from store.interface import (
    OrderEvent,
    OrderEventKind,
    OrderFilter,
    OrderPage,
    OrderSort,
    Store,
    SyncState,
    WebhookEvent,
)
from store.sql import SqlStore, create_store

__all__ = [
    "OrderEvent", "OrderEventKind", "OrderFilter", "OrderPage", "OrderSort", "SqlStore", "Store", "SyncState",
    "WebhookEvent", "create_store",
]  # fmt: skip
