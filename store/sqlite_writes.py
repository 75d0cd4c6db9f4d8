"""SQLite write transactions on one synchronous connection, run on the event loop's thread.

Through aiosqlite every DBAPI call of a transaction (cursor, execute, fetch, close, commit) was a
hand-off to the connection's thread, a thread wake-up and a GIL exchange each: 0.2-0.3 ms apiece on a
loaded two-core machine, so a write of five statements paid about fifteen. A statement on a local
SQLite file costs tens of microseconds, far less than the hand-off, so here the statements run where
the caller is, on the standard library's driver (`BEGIN IMMEDIATE`: the write lock is taken when the
transaction starts, as a single writer should), and the commit waits for SQLite's sync of the
write-ahead log exactly as before (`synchronous=FULL`: a commit that returned is on disk).

One kind of transaction is the exception: `transaction(durable=False)`, used for the outcome of a
delivery attempt, commits with `synchronous=NORMAL`: the write-ahead log is written, not synced, and
the caller is answered without waiting for the disk. The log is synced by the next durable commit
(FULL syncs the whole log file, so every frame written before it), or by `sync()` at most
`SYNC_WITHIN` seconds after the commit, whichever comes first. A process crash loses nothing of such
a commit (the log is in the operating system's cache, and SQLite recovers it on open); a power loss
or an operating-system crash can lose the outcomes of that window. Reads of the live-event log sync
first (`sync()`), so no event is announced that a power loss could take back (docs/operations.md,
"What a crash can lose").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
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


log = logging.getLogger("gateway.store")
SYNC_WITHIN = 0.01  # an outcome commit (durable=False) is on disk at most this long after it
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
        database = self.engine.url.database
        self._wal = os.path.abspath(database) + "-wal" if database else None
        self._synchronous = ""  # the connection's setting now (FULL or NORMAL)
        self._commits = 0  # commits so far; the first `_synced` of them are on disk
        self._synced = 0
        self._timer: asyncio.TimerHandle | None = None

    @contextlib.asynccontextmanager
    async def transaction(self, *, durable: bool = True) -> AsyncIterator[InlineConnection]:
        """BEGIN IMMEDIATE ... COMMIT (ROLLBACK when the body raises). `durable=False`: the commit
        returns before the write-ahead log is synced; it is synced within `SYNC_WITHIN` (the module's doc)."""
        if self._conn is None or self._conn.closed:
            self._conn = self.engine.connect()
        conn = self._conn
        driver = conn.connection.driver_connection
        self._set_synchronous(driver, "FULL" if durable else "NORMAL")
        await self._begin_immediate(driver)
        with conn.begin():  # the driver is in the transaction: COMMIT or ROLLBACK at the end
            yield InlineConnection(conn, self.driver)
        self._commits += 1
        if durable:  # FULL synced the log, and with it every frame written before this commit
            self._synced = self._commits
        else:
            self._sync_soon()

    def _set_synchronous(self, driver: sqlite3.Connection, setting: str) -> None:
        if self._synchronous != setting:
            if driver.in_transaction:  # left open by a COMMIT that failed: not ours to keep (PRAGMA needs none open)
                driver.execute("ROLLBACK")
            driver.execute(f"PRAGMA synchronous={setting}")
            self._synchronous = setting

    @property
    def unsynced(self) -> int:
        """Commits that returned but may not be on disk yet (outcome commits in their window)."""
        return self._commits - self._synced

    def _sync_soon(self) -> None:
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(SYNC_WITHIN, self._sync_later)

    def _sync_later(self) -> None:
        self._timer = None
        try:
            self.sync()
        except OSError:  # logged; the next durable commit or sync() tries again
            pass

    def sync(self) -> None:
        """Return once every commit made so far is on disk: sync the write-ahead log now unless a
        durable commit already did (an `fdatasync` of the `-wal` file, what FULL does after a commit)."""
        target = self._commits
        if self._synced >= target:
            return
        try:
            _fdatasync(self._wal)
        except OSError:
            log.exception("syncing the SQLite write-ahead log failed")
            raise
        self._synced = max(self._synced, target)

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
        """Sync what is not on disk yet, then close the connection."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        with contextlib.suppress(OSError):  # (logged)
            self.sync()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self.engine.dispose()


def _fdatasync(path: str | None) -> None:
    """Flush the write-ahead log's data to disk (what `synchronous=FULL` does after a commit). No log
    file: nothing to flush (the last connection's close checkpointed it into the database)."""
    if path is None:
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


def _explicit_transactions(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling would defer BEGIN to the first write; SQLAlchemy's
    # documented recipe: turn it off and say BEGIN ourselves.
    dbapi_connection.isolation_level = None
