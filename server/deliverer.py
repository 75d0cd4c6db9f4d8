"""The background deliverer: claims due deliveries and sends them, until shutdown.

Every instance runs one. Each pass claims what is due on the connections with free slots
(`resolvers.delivery.deliver_due`); attempts run as tasks. Between passes it sleeps the poll
interval (with jitter, so instances drift apart) unless a mutation queued something and woke it.
Shutdown stops claiming, lets attempts in flight finish for the grace period, cancels the rest and
releases the claims it still holds, so another instance takes them at once, except those of
attempts it cut off mid-call: their outcome is unknown, so they keep the order quarantined.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

from resolvers.context import AppContext
from resolvers.delivery import deliver_due

log = logging.getLogger("gateway.deliverer")

JITTER = 0.2


class Deliverer:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.passes = 0
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    async def start(self) -> None:
        self.ctx.dispatch.wake = self._wake.set
        self._task = asyncio.create_task(self._loop(), name="deliverer")
        self.ctx.dispatch.delivering = self.running

    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _loop(self) -> None:
        interval = self.ctx.dispatch.policy.poll_interval_seconds
        while True:
            self._wake.clear()  # set again by a queued result, or by an attempt that ends while one waits
            claimed = await self.run_once()
            if claimed:
                await asyncio.sleep(0)  # more may be due at once: claim again after yielding
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval * random.uniform(1 - JITTER, 1 + JITTER)):
                    await self._wake.wait()  # (asyncio.wait_for may swallow a cancel on 3.11: stop would hang)

    async def run_once(self) -> int:
        try:
            claimed = await deliver_due(self.ctx)
        except Exception:  # a store hiccup must not end the loop; the next pass tries again
            log.exception("deliverer pass failed")
            claimed = 0
        self.passes += 1
        return claimed

    async def stop(self) -> None:
        """Stop claiming, finish or give back what is in flight."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.ctx.dispatch.wake = lambda: None
        self.ctx.dispatch.delivering = lambda: False
        await drain(self.ctx)


async def drain(ctx: AppContext) -> None:
    """Wait for attempts in flight (up to the grace period), cancel the rest, release claims."""
    dispatch = ctx.dispatch
    pending = set(dispatch.tasks)
    if pending:
        _, pending = await asyncio.wait(pending, timeout=dispatch.policy.shutdown_grace_seconds)
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    released = await ctx.store.release_claims(dispatch.instance_id)
    if released or pending:
        log.info("shutdown: %d attempt(s) cancelled, %d claim(s) released", len(pending), released)
