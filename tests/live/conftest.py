"""Live-event fixtures: the store fixtures of the store tests (SQLite and PostgreSQL)."""

from tests.store.conftest import store, store_url

__all__ = ["store", "store_url"]
