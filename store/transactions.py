"""One write transaction of the SQL store: serialised in-process on SQLite, optionally under a
PostgreSQL transaction-level advisory lock."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from opentelemetry import trace
from sqlalchemy import Connection, Executable, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from store.driver_sql import DriverStatements, prebuilt
from store.sqlite_reads import SqliteReader
from store.sqlite_writes import InlineConnection, SqliteWriter

_tracer = trace.get_tracer("gateway.store")


def tracing_on() -> bool:
    """An OpenTelemetry SDK is configured (server/tracing.py). Off, no span is started at all: the API's
    non-recording spans still cost a context switch each, several per request."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def span(tracer: trace.Tracer, name: str, **kwargs: Any) -> AbstractContextManager[trace.Span]:
    """`tracer.start_as_current_span(name, **kwargs)` while tracing is on (`tracing_on`); otherwise
    no span at all (the invalid span stands in)."""
    if not tracing_on():
        return contextlib.nullcontext(trace.INVALID_SPAN)
    return tracer.start_as_current_span(name, **kwargs)
S = TypeVar("S")


class Transactions:
    """Mixed into `SqlStore` (through the outbox, leases and event log)."""

    engine: AsyncEngine
    reader: SqliteReader | None = None  # SQLite files: reads off the async engine (store/sqlite_reads.py)
    driver: DriverStatements | None = None  # SQLite files: prebuilt statements on the driver (store/driver_sql.py)
    writer: SqliteWriter | None = None  # SQLite files: statements on the loop's thread (store/sqlite_writes.py)
    _sqlite_lock: asyncio.Lock | None = None

    _statements: dict[Callable[[str], Any], Any]

    def _built(self, build: Callable[[str], S]) -> S:
        """The statement `build(dialect name)` makes, built once per store and then run with parameters.
        A hot path's statement built on every call cost several times its execution: construction,
        column collections of subqueries, a cache key over every literal (about 280 us against 33 us
        for a prebuilt one on SQLite)."""
        built = self.__dict__.setdefault("_statements", {})
        stmt = built.get(build)
        if stmt is None:
            stmt = build(self.engine.dialect.name)
            if isinstance(stmt, Executable):
                stmt = prebuilt(stmt)  # type: ignore[assignment]
            built[build] = stmt
        return stmt  # type: ignore[no-any-return]

    @contextlib.asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for a few short reads. On a SQLite file: a synchronous connection used on the
        event loop's thread (an indexed read costs tens of microseconds, a hand-off to a driver thread
        several times that); elsewhere one of the async engine's."""
        if self.reader is not None:
            idle = self._idle_writer()
            if idle is not None:  # the write connection's cache is current; a reader's is not after a write
                try:
                    yield InlineConnection(idle, self.driver)  # type: ignore[misc]
                finally:
                    if idle.in_transaction():  # SQLAlchemy's own bookkeeping of a statement it ran
                        idle.rollback()
                return
            with self.reader.inline() as conn:
                yield InlineConnection(conn, self.reader.driver)  # type: ignore[misc]  # what the read bodies use
            return
        async with self.engine.connect() as conn:
            yield conn

    def _idle_writer(self) -> Connection | None:
        """The SQLite write connection when no write transaction holds or waits for it (store/sqlite_writes.py)."""
        if self.writer is None or (self._sqlite_lock is not None and self._sqlite_lock.locked()):
            return None
        return self.writer.idle_connection()

    async def on_disk(self) -> None:
        """Return once every commit so far is on disk (only a SQLite file's commits made with
        `durable=False` can lag); the loop goes on serving while the disk works."""
        if self.writer is not None:
            await self.writer.synced()

    @contextlib.asynccontextmanager
    async def _tx(self, advisory_lock: int | None = None, *, durable: bool = True) -> AsyncIterator[AsyncConnection]:
        """A transaction. SQLite has one writer at a time: this process's writers take turns on one
        lock (and `advisory_lock` is not needed). On PostgreSQL `advisory_lock`, when given, is held
        until the transaction ends, so the transactions that take it commit in the order they took it.
        `durable=False` (a SQLite file): the commit does not wait for the disk; it is synced by the next
        durable commit or within `SYNC_WITHIN` (store/sqlite_writes.py). PostgreSQL commits are always
        durable."""
        with span(_tracer, "store transaction"):
            if self.engine.dialect.name != "sqlite":
                async with self.engine.begin() as conn:
                    if advisory_lock is not None and conn.dialect.name == "postgresql":
                        await conn.execute(text(f"SELECT pg_advisory_xact_lock({int(advisory_lock)})"))
                    yield conn
                return
            if self._sqlite_lock is None:
                self._sqlite_lock = asyncio.Lock()
            if self.writer is None:
                async with self._sqlite_lock, self.engine.begin() as conn:
                    yield conn
                return
            async with self._sqlite_lock, self.writer.transaction() as inline:
                yield inline  # type: ignore[misc]  # what the bodies use of AsyncConnection
            if durable:  # on disk before the caller goes on; the next writer need not wait for the disk
                await self.writer.synced()
