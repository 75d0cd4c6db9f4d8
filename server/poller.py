"""Background intake work: one Kombo order-sync loop per Kombo connection, never overlapping, and one
loop that fills StackOne orders whose details could not be fetched when their webhook arrived."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

from providers.connections import Connection
from providers.models import ProviderName
from resolvers import intake
from resolvers.context import AppContext
from resolvers.sync import Sleep, sync_connection

log = logging.getLogger("gateway.poller")

JITTER = 0.1  # each pause is the interval stretched or shrunk by up to 10 %, so instances drift apart
DETAILS_INTERVAL = 60.0  # seconds between passes over StackOne orders still missing their details


class Poller:
    """Runs `sync_connection` for every Kombo connection with `sync_interval_seconds > 0`, then
    sleeps the interval (with jitter) and repeats. A per-connection lock keeps this process from
    overlapping itself; the store's lease keeps other instances (and the mutation) out."""

    def __init__(
        self, ctx: AppContext, *, sleep: Sleep = asyncio.sleep, details_interval: float = DETAILS_INTERVAL
    ) -> None:
        self.ctx = ctx
        self.sleep = sleep
        self.details_interval = details_interval
        self.detail_passes = 0  # finished passes of the StackOne details loop
        self.locks: dict[str, asyncio.Lock] = {}
        self.cycles: dict[str, int] = {}  # finished cycles per connection
        self._tasks: list[asyncio.Task[None]] = []

    def polled(self) -> list[Connection]:
        return [
            c for c in self.ctx.connections.values()
            if c.provider is ProviderName.KOMBO and c.sync_interval_seconds > 0
        ]  # fmt: skip

    async def start(self) -> None:
        for connection in self.polled():
            self.locks[connection.id] = asyncio.Lock()
            self.cycles[connection.id] = 0
            task = asyncio.create_task(self._loop(connection), name=f"kombo-sync-{connection.id}")
            self._tasks.append(task)
        if any(c.provider is ProviderName.STACKONE for c in self.ctx.connections.values()):
            self._tasks.append(asyncio.create_task(self._details_loop(), name="stackone-details-retry"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _loop(self, connection: Connection) -> None:
        while True:
            await self.run_once(connection.id)
            await self.sleep(connection.sync_interval_seconds * random.uniform(1 - JITTER, 1 + JITTER))

    async def run_once(self, connection_id: str) -> None:
        """One cycle: sync the connection."""
        async with self.locks.setdefault(connection_id, asyncio.Lock()):
            try:
                await sync_connection(self.ctx, connection_id, sleep=self.sleep)
            except Exception:  # a bug must not end the loop; the next cycle tries again
                log.exception("kombo sync %s: cycle failed", connection_id)
        self.cycles[connection_id] = self.cycles.get(connection_id, 0) + 1

    async def _details_loop(self) -> None:
        while True:
            await self.sleep(self.details_interval * random.uniform(1 - JITTER, 1 + JITTER))
            try:
                await intake.fill_pending_details(self.ctx)
            except Exception:  # a bug must not end the loop; the next pass tries again
                log.exception("stackone order details: pass failed")
            self.detail_passes += 1
