"""One writer at a time on SQLite: every write transaction of the store takes the same lock.

SQLite lets one connection write at a time; a second writer does not queue, it fails with
SQLITE_BUSY and sleeps in SQLite's busy handler (1, 2, 5, 10 ... 100 ms) before it tries again.
Taking one in-process lock first turns that into a plain queue (one instance per SQLite file).
PostgreSQL has row locks and MVCC: its transactions are not serialised here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


class SingleWriter:
    """Mixed into `SqlStore`; the lock is the one `LeaseStore._tx` takes (`_sqlite_lock`)."""

    engine: AsyncEngine
    _sqlite_lock: asyncio.Lock | None = None

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        if self.engine.dialect.name != "sqlite":
            async with self.engine.begin() as conn:
                yield conn
            return
        if self._sqlite_lock is None:
            self._sqlite_lock = asyncio.Lock()
        async with self._sqlite_lock, self.engine.begin() as conn:
            yield conn
