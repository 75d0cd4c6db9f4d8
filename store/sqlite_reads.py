"""SQLite reads run whole in a worker thread: one thread hand-off per statement instead of five; small
reads run on the event loop's thread under a budget of SQLite VM steps.

aiosqlite hands each DBAPI call (cursor, execute, fetchall, close, the rollback that releases the
connection) to its connection's thread one at a time, and every hand-off is a thread wake-up and a
GIL exchange: 0.2-0.3 ms each on a loaded two-core machine, so a one-statement read paid five. Here a
synchronous engine on the same file runs checkout, statement, rows and release in one call on a small
thread pool. A read sees every committed write (WAL), exactly as a freshly checked-out aiosqlite
connection did; writes stay on the async engine. An in-memory database cannot be opened twice, so it
keeps the async path (`reader_for` answers None).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import itertools
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Connection, Engine, Executable, Row, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from store.driver_sql import DriverStatements

THREADS = 4
# SQLite VM steps a small read may take on the event loop's thread: a page of 100 orders takes about
# 1,400; a scan with LIKE about 0.3 µs a step, so the loop is held 1.5 ms at most before the pool takes over.
INLINE_STEPS = 5_000
STEPS_PER_CALL = 500


class SqliteReader:
    """Runs SELECT statements on a synchronous engine over `THREADS` threads (one connection each)."""

    def __init__(
        self, url: str, on_connect: Callable[[Any, Any], None], threads: int = THREADS, inline_steps: int = INLINE_STEPS
    ) -> None:
        self.inline_steps = inline_steps
        # One connection per thread, one more for the reads made on the event loop's thread.
        self.engine: Engine = create_engine(
            url, pool_size=threads + 1, max_overflow=0, connect_args={"check_same_thread": False}
        )
        event.listen(self.engine, "connect", on_connect)
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix="sqlite-read")
        self.driver: DriverStatements | None = None  # set by the store: prebuilt statements on the driver
        self._inline: Connection | None = None

    @contextlib.contextmanager
    def inline(self) -> Iterator[Connection]:
        """The connection for reads on the event loop's thread, kept open: a checkout and a return
        cost more than an indexed read. Only SELECTs run on it, outside any transaction (the driver
        begins none for a SELECT), so each read sees every committed write."""
        conn = self._inline
        if conn is None or conn.closed or conn.invalidated:
            conn = self._inline = self.engine.connect()
        try:
            yield conn
        finally:
            if conn.in_transaction():  # SQLAlchemy's own bookkeeping of a statement it ran
                conn.rollback()

    def _execute(self, conn: Connection, stmt: Executable, params: Mapping[str, Any] | None) -> list[Row[Any]]:
        if self.driver is not None:
            return list(self.driver.execute(conn, stmt, params).all())
        return list(conn.execute(stmt, params).all())

    async def fetch(
        self, stmt: Executable, params: Mapping[str, Any] | None = None, *, small: bool = False
    ) -> list[Row[Any]]:
        """The statement's rows. A `small` read (a few rows found through an index) runs on the calling
        (event loop's) thread, which spares the hand-off, unless it takes more than `INLINE_STEPS` SQLite
        VM steps: then it is interrupted and runs again in the pool, so the loop is never held long."""
        if small:
            rows = self._fetch_inline(stmt, params)
            if rows is not None:
                return rows
        # The caller's context goes along (log fields, the current trace span of a traced statement).
        call = functools.partial(contextvars.copy_context().run, self._fetch, stmt, params)
        return await asyncio.get_running_loop().run_in_executor(self._threads, call)

    def _fetch(self, stmt: Executable, params: Mapping[str, Any] | None) -> list[Row[Any]]:
        with self.engine.connect() as conn:
            return self._execute(conn, stmt, params)

    def _fetch_inline(self, stmt: Executable, params: Mapping[str, Any] | None) -> list[Row[Any]] | None:
        """The rows, or None when the read went over its budget of VM steps (interrupted, nothing read)."""
        with self.inline() as conn:
            driver = conn.connection.driver_connection
            assert driver is not None
            # SQLite calls the handler every STEPS_PER_CALL steps, counted over the statement's life (a
            # cached statement starts part way to its first call), and a non-zero answer interrupts it.
            calls = itertools.count(1)
            limit = self.inline_steps // STEPS_PER_CALL
            driver.set_progress_handler(lambda: next(calls) > limit, STEPS_PER_CALL)
            try:
                return self._execute(conn, stmt, params)
            except OperationalError as exc:
                if _interrupted(exc):
                    return None
                raise
            finally:
                driver.set_progress_handler(None, 0)

    def close(self) -> None:
        self._threads.shutdown(wait=True)
        if self._inline is not None:
            self._inline.close()
            self._inline = None
        self.engine.dispose()


def _interrupted(exc: OperationalError) -> bool:
    return isinstance(exc.orig, sqlite3.OperationalError) and str(exc.orig) == "interrupted"


def reader_for(async_url: str, on_connect: Callable[[Any, Any], None]) -> SqliteReader | None:
    """A reader for an aiosqlite file URL (same file, the standard library's driver); None in memory."""
    url = make_url(async_url)
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:") or url.query.get("mode") == "memory":
        return None
    return SqliteReader(url.set(drivername="sqlite+pysqlite").render_as_string(hide_password=False), on_connect)
