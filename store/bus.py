"""The event bus: how an instance hears that the live-event log grew. One interface, two kinds.

`LocalBus` (SQLite, one instance): appends in this process ring it directly. `PostgresBus` (several
instances): every instance LISTENs on the channel the store NOTIFYs in the append's transaction, so
each hears of every other's appends once committed; a lost listening connection is re-opened and
the hub catches up from the log, so a dropped notification only delays an event, never loses it.
Payloads are small (`{"seq": N}`): subscribers read the events and orders from the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy.engine import make_url

from store.events import NOTIFY_CHANNEL

log = logging.getLogger("gateway.events")


class EventBus(Protocol):
    def on_append(self, callback: Callable[[], None]) -> None:
        """Call `callback` (in the event loop, no arguments) whenever the log may have grown."""

    def appended(self) -> None:
        """This process appended to the log."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class LocalBus:
    """In-process: the only writer is this process."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[], None]] = []

    def on_append(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)

    def appended(self) -> None:
        for callback in self._callbacks:
            callback()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


class PostgresBus(LocalBus):
    """LISTEN/NOTIFY over one dedicated asyncpg connection, re-opened when it drops."""

    def __init__(self, database_url: str, *, retry_seconds: float = 1.0) -> None:
        super().__init__()
        url = make_url(database_url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._retry = retry_seconds
        self._task: asyncio.Task[None] | None = None
        self._connection: Any = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="event-bus-listen")

    async def _listen(self) -> None:
        import asyncpg

        while True:
            lost = asyncio.Event()
            try:
                self._connection = await asyncpg.connect(self._dsn)
                self._connection.add_termination_listener(lambda _conn, done=lost.set: done())
                await self._connection.add_listener(NOTIFY_CHANNEL, lambda *_args: self.appended())
                self.appended()  # catch up on what was appended while not listening
                await lost.wait()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("event bus: listening connection unavailable (%s); retrying", type(exc).__name__)
            await self._drop()
            await asyncio.sleep(self._retry)

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close(timeout=2)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._drop()


def create_bus(database_url: str) -> EventBus:
    return PostgresBus(database_url) if database_url.startswith("postgresql") else LocalBus()
