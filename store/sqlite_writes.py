"""SQLite write transactions on one synchronous connection, run on the event loop's thread.

Through aiosqlite every DBAPI call of a transaction (cursor, execute, fetch, close, commit) was a
hand-off to the connection's thread, a thread wake-up and a GIL exchange each: 0.2-0.3 ms apiece on a
loaded two-core machine, so a write of five statements paid about fifteen. A statement on a local
SQLite file costs tens of microseconds, far less than the hand-off, so here the statements run where
the caller is, on the standard library's driver (`BEGIN IMMEDIATE`: the write lock is taken when the
transaction starts, as a single writer should), and the commit waits for SQLite's sync of the
write-ahead log exactly as before (`synchronous=FULL` is kept: a commit that returned is on disk).

`InlineConnection` offers what the store's transaction bodies use of an `AsyncConnection`
(`execute`, awaited, and `dialect`), so the same bodies run on PostgreSQL's async connection and here.
The writes of one process take turns on the store's lock (store/transactions.py); one instance per
SQLite file (as before).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, Executable, create_engine, event
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import StaticPool

from store.driver_sql import DriverStatements


class InlineConnection:
    """The awaitable face of a synchronous connection (no hand-off: the statement runs at once)."""

    __slots__ = ("_conn", "_driver")

    def __init__(self, conn: Connection, driver: DriverStatements | None = None) -> None:
        self._conn = conn
        self._driver = driver  # prebuilt statements straight on the driver (store/driver_sql.py)

    @property
    def dialect(self) -> Dialect:
        return self._conn.dialect

    async def execute(self, stmt: Executable, parameters: Any = None) -> CursorResult[Any]:
        if self._driver is not None:
            return self._driver.execute(self._conn, stmt, parameters)
        return self._conn.execute(stmt, parameters)


BUSY_SECONDS = 5.0  # how long a write waits for another process's write lock (SQLite's usual timeout)
_BUSY_POLL = 0.005


class SqliteWriter:
    """One write connection to a SQLite file, used only by the event loop's thread."""

    def __init__(self, url: str, on_connect: Callable[[Any, Any], None], busy_seconds: float = BUSY_SECONDS) -> None:
        # StaticPool: the one connection for the store's life; check_same_thread off because it is
        # opened on first use and closed from whatever thread disposes of the engine. timeout=0: a
        # write lock held by another process (a manifest load, a backup) is waited for here, in
        # asyncio, never in SQLite's busy handler on the loop's thread.
        self.engine: Engine = create_engine(
            url, poolclass=StaticPool, connect_args={"check_same_thread": False, "timeout": 0}
        )
        event.listen(self.engine, "connect", on_connect)
        event.listen(self.engine, "connect", _explicit_transactions)
        self.busy_seconds = busy_seconds
        self.driver: DriverStatements | None = None  # set by the store
        self._conn: Connection | None = None

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[InlineConnection]:
        """BEGIN IMMEDIATE ... COMMIT (ROLLBACK when the body raises)."""
        if self._conn is None or self._conn.closed:
            self._conn = self.engine.connect()
        conn = self._conn
        await self._begin_immediate(conn.connection.driver_connection)
        with conn.begin():  # the driver is in the transaction: COMMIT or ROLLBACK at the end
            yield InlineConnection(conn, self.driver)

    async def _begin_immediate(self, driver: sqlite3.Connection) -> None:
        """Take the write lock; while another process holds it, try again every few milliseconds
        (the loop keeps serving) until `busy_seconds` have passed: then an OperationalError (an
        outage to the callers: retry later)."""
        if driver.in_transaction:  # left open by a COMMIT that failed (disk full, I/O error): not ours to keep
            driver.execute("ROLLBACK")
        deadline = time.monotonic() + self.busy_seconds
        while True:
            try:
                driver.execute("BEGIN IMMEDIATE")  # the driver's own: not a statement of the store's
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):  # (extended codes)
                    raise
                if time.monotonic() >= deadline:
                    raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
            await asyncio.sleep(_BUSY_POLL)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self.engine.dispose()


def _explicit_transactions(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling would defer BEGIN to the first write; SQLAlchemy's
    # documented recipe: turn it off and say BEGIN ourselves.
    dbapi_connection.isolation_level = None
