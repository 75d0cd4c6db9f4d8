"""SQLite write transactions on one synchronous connection, run on the event loop's thread.

Through aiosqlite every DBAPI call of a transaction (cursor, execute, fetch, close, commit) was a
hand-off to the connection's thread, a thread wake-up and a GIL exchange each: 0.2-0.3 ms apiece on a
loaded two-core machine, so a write of five statements paid about fifteen. A statement on a local
SQLite file costs tens of microseconds, far less than the hand-off, so here the statements run where
the caller is, on the standard library's driver (`BEGIN IMMEDIATE`: the write lock is taken when the
transaction starts, as a single writer should).

The connection runs `synchronous=NORMAL` and the sync is ours: an `fdatasync` of the `-wal` file, which
is exactly the sync FULL adds after each commit in WAL mode (NORMAL and FULL sync the same way around
checkpoints). `transaction()` returns at COMMIT, without waiting for the disk; whoever needs the commit
on disk awaits `synced()`, which runs the sync on the sync thread (the loop goes on serving, and the
next writer commits, while the disk works). The store's durable commits do so once they let go of the
write lock (store/transactions.py); a mutation's result (recorded with its send begun) and the outcome
of a delivery attempt do not. The log is synced by the next such sync (it covers the whole file, so
every frame written before it) or at most `SYNC_WITHIN` seconds after the commit, by the sync thread,
whichever comes first. A process crash loses nothing of a commit (the log is in the operating system's
cache, and SQLite recovers it on open); a power loss or an operating-system crash can lose the commits
not yet synced. Callers sync before they promise anything that rests on such a commit: a mutation
answers "delivered" without waiting (the provider has the result), any other answer only once synced;
reads of the live-event log sync first, so no event is announced that a power loss could take back
(docs/operations.md, "What a crash can lose").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
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
# A commit nobody awaits `synced()` for is on disk at most this long after it: the window in which a power
# loss can take it back (docs/operations.md, "What a crash can lose"). PostgreSQL's asynchronous commit
# makes the same trade with its WAL writer every 200 ms (and can lose up to three times that). Each sync
# of the window costs the loop too (a mutation measured 2.06-2.35x of the floor with 10 ms, 1.86-2.17x
# with 200 ms, side by side in alternating runs: docs/benchmarks.md, eighth round).
SYNC_WITHIN = 0.2
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
        event.listen(self.engine, "connect", self._sync_is_ours)
        self.busy_seconds = busy_seconds
        self.driver: DriverStatements | None = None  # set by the store
        self._conn: Connection | None = None
        self._wal: str | None = None  # the write-ahead log's path, once connected in WAL mode
        self._commits = 0  # commits so far; the first `_synced` of them are on disk
        self._synced = 0
        self._synced_lock = threading.Lock()  # (`_synced` moves on the loop's thread and the sync thread)
        self._timer: asyncio.TimerHandle | None = None
        self._sync_thread: ThreadPoolExecutor | None = None  # syncs off the loop's thread
        self._running: asyncio.Future[None] | None = None  # a sync `synced()` waits for

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[InlineConnection]:
        """BEGIN IMMEDIATE ... COMMIT (ROLLBACK when the body raises). It returns at COMMIT: the log is
        synced by `synced()` or within `SYNC_WITHIN` (the module's doc)."""
        if self._conn is None or self._conn.closed:
            self._conn = self.engine.connect()
        conn = self._conn
        await self._begin_immediate(conn.connection.driver_connection)
        with conn.begin():  # the driver is in the transaction: COMMIT or ROLLBACK at the end
            yield InlineConnection(conn, self.driver)
        self._commits += 1
        self._sync_soon()

    def idle_connection(self) -> Connection | None:
        """The write connection while no transaction is open on it, for a read on the event loop's thread:
        its page cache holds what this process wrote last, where another connection's cache is dropped
        after every write and read again from the file. None before the first write or while a
        transaction is open (its writes are not committed: a read there would see them)."""
        conn = self._conn
        if conn is None or conn.closed or conn.invalidated or conn.in_transaction():
            return None
        driver = conn.connection.driver_connection
        return None if driver is None or driver.in_transaction else conn

    @property
    def unsynced(self) -> int:
        """Commits that returned but may not be on disk yet (in their window, or waiting for `synced()`)."""
        return self._commits - self._synced

    def _sync_soon(self) -> None:
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(SYNC_WITHIN, self._sync_later)

    def _sync_later(self) -> None:
        """The window's sync, on the sync thread: the loop goes on serving while the disk works
        (`fdatasync` holds no lock of the loop's and releases the GIL)."""
        self._timer = None
        self._thread().submit(self._window_sync, self._commits, self._wal)

    def _thread(self) -> ThreadPoolExecutor:
        if self._sync_thread is None:
            self._sync_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-sync")
        return self._sync_thread

    async def synced(self) -> None:
        """Return once every commit made so far is on disk, as `sync()`, but with the `fdatasync` on the
        sync thread: the loop goes on serving (and other writers commit) while the disk works. Callers
        share a sync under way; one that began before their commit is followed by another. An OSError
        of the sync is raised to every caller waiting for it."""
        target = self._commits
        while self._synced < target:
            running = self._running
            if running is None or running.done():  # (a finished one covered less: its callback may not have run yet)
                loop = asyncio.get_running_loop()
                running = self._running = loop.run_in_executor(self._thread(), self._synced_to, self._commits, self._wal)
                running.add_done_callback(self._sync_ended)
            await asyncio.shield(running)  # (a caller that goes away leaves the sync to the others)

    def _sync_ended(self, done: asyncio.Future[None]) -> None:
        if self._running is done:
            self._running = None
        if not done.cancelled():
            done.exception()  # (logged by `_synced_to`; raised to whoever waited)

    def _window_sync(self, target: int, wal: str | None) -> None:
        with contextlib.suppress(OSError):  # logged; the next durable commit or sync() tries again
            self._synced_to(target, wal)

    def _sync_is_ours(self, dbapi_connection: Any, _record: Any) -> None:
        """WAL + NORMAL: COMMIT writes the log without syncing it, and `sync()` syncs it (FULL's one extra
        sync). Not in WAL mode (a file system without shared memory): SQLite's FULL syncs each commit."""
        mode = dbapi_connection.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            self._wal = None
            return
        main = next(row for row in dbapi_connection.execute("PRAGMA database_list") if row[1] == "main")
        self._wal = main[2] + "-wal"
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    def sync(self) -> None:
        """Return once every commit made so far is on disk, on this thread: sync the write-ahead log now
        unless a sync already covered them (an `fdatasync` of the `-wal` file, what FULL does after a
        commit). For `close()`, where there is no loop to go on serving."""
        self._synced_to(self._commits, self._wal)

    def _synced_to(self, target: int, wal: str | None) -> None:
        if self._synced >= target:
            return
        try:
            _fdatasync(wal)
        except OSError:
            log.exception("syncing the SQLite write-ahead log failed")
            raise
        with self._synced_lock:
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
        if self._sync_thread is not None:
            self._sync_thread.shutdown(wait=True)  # a sync under way ends before the connection closes
            self._sync_thread = None
        with contextlib.suppress(OSError):  # (logged)
            self.sync()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self.engine.dispose()


def _fdatasync(path: str | None) -> None:
    """Flush the write-ahead log's data to disk (what `synchronous=FULL` does after a commit). None: not
    in WAL mode, SQLite synced the commit itself."""
    if path is None:
        return
    fd = os.open(path, os.O_RDONLY)  # (the log exists while the writer's connection is open)
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


def _explicit_transactions(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling would defer BEGIN to the first write; SQLAlchemy's
    # documented recipe: turn it off and say BEGIN ourselves.
    dbapi_connection.isolation_level = None
