"""Kombo order sync: page `GET /assessment/orders` from a saved window and cursor into the order record."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from providers.errors import (
    DomainError,
    InvalidInputError,
    ProviderRateLimitedError,
    UnsupportedByProviderError,
)
from providers.kombo.client import KomboProvider
from providers.models import AssessmentOrder
from resolvers.context import AppContext
from resolvers.intake import record_received_orders
from store.interface import SyncState

log = logging.getLogger("gateway.sync")

Sleep = Callable[[float], Awaitable[None]]

DEFAULT_LEASE = timedelta(minutes=5)
OVERLAP = timedelta(minutes=5)  # each window re-reads the tail of the previous one: late writes are not lost
PAGE_SIZE = 100
MAX_RATE_LIMIT_RETRIES = 5  # per run; then the run stops as an error and the next one resumes
MAX_WAIT_SECONDS = 60.0  # a longer Retry-After ends the run instead of holding the lease while asleep


@dataclass(frozen=True)
class SyncReport:
    """What one sync call did. `orders_seen` and `pages_read` count this call only."""

    connection_id: str
    pages_read: int = 0
    orders_seen: int = 0
    finished: bool = False
    error_code: str | None = None
    resumed: bool = False
    already_running: bool = False


@dataclass
class _Run:
    """The mutable state of the run in progress."""

    adapter: KomboProvider
    state: SyncState
    resumed: bool
    pages_read: int = 0
    orders_seen: int = 0
    retries_left: int = MAX_RATE_LIMIT_RETRIES


async def sync_connection(
    ctx: AppContext,
    connection_id: str,
    *,
    lease: timedelta = DEFAULT_LEASE,
    page_size: int = PAGE_SIZE,
    sleep: Sleep | None = None,
) -> SyncReport:
    """Read the connection's new Kombo orders to the end and record them (Kombo's version wins).

    Raises InvalidInputError for an unknown connection and UnsupportedByProviderError for a
    connection that is not Kombo. Provider failures do not raise: the report carries their code,
    what was read is kept and the next run resumes from the saved cursor.
    """
    adapter = _kombo_adapter(ctx, connection_id)
    now = ctx.clock()
    claimed = await ctx.store.claim_sync(connection_id, now, now + lease)
    if claimed is None:
        log.info("kombo sync %s: skipped, another run holds the lease", connection_id)
        ctx.observer.sync_run(connection_id, "already_running", 0)
        return SyncReport(connection_id, already_running=True)
    run = _start(adapter, claimed, now)
    report = await _run_to_end(ctx, run, lease, page_size, asyncio.sleep if sleep is None else sleep)
    log.info(
        "kombo sync %s: pages=%d orders=%d finished=%s resumed=%s error=%s",
        connection_id, report.pages_read, report.orders_seen, report.finished, report.resumed, report.error_code,
    )  # fmt: skip
    ctx.observer.sync_run(connection_id, report.error_code or ("finished" if report.finished else "stopped"),
                          report.orders_seen)  # fmt: skip
    return report


def _kombo_adapter(ctx: AppContext, connection_id: str) -> KomboProvider:
    connection = ctx.connections.get(connection_id)
    if connection is None:
        raise InvalidInputError(f"No connection {connection_id!r} is configured.", field="connectionId")
    adapter = ctx.adapters.get(connection_id)
    if not isinstance(adapter, KomboProvider):
        raise UnsupportedByProviderError(
            f"Only Kombo connections can be synced; {connection_id!r} is {connection.provider.value}.",
            provider=connection.provider,
        )
    return adapter


def _start(adapter: KomboProvider, claimed: SyncState, now: datetime) -> _Run:
    """Resume the run a saved cursor belongs to (same window), else open a new window."""
    if claimed.cursor:
        return _Run(adapter, claimed, resumed=True)
    window = claimed.created_after - OVERLAP if claimed.created_after is not None else None
    state = claimed.model_copy(update={"created_after": window, "run_started_at": now, "orders_seen": 0})
    return _Run(adapter, state, resumed=False)


async def _run_to_end(ctx: AppContext, run: _Run, lease: timedelta, page_size: int, sleep: Sleep) -> SyncReport:
    try:
        while True:
            orders, cursor = await _read_page(run, page_size, sleep)
            await record_received_orders(ctx, orders)  # Kombo is the source of truth: replace
            run.pages_read += 1
            run.orders_seen += len(orders)
            run.state = run.state.model_copy(update={
                "cursor": cursor, "orders_seen": run.state.orders_seen + len(orders),
                "lease_until": ctx.clock() + lease,
            })  # fmt: skip
            if not cursor:
                await ctx.store.save_sync_state(_finished(run.state, ctx.clock()))
                return _report(run, finished=True)
            await ctx.store.save_sync_state(run.state)
    except DomainError as exc:
        await ctx.store.save_sync_state(_released(run.state, last_error=exc.code.value))
        return _report(run, error_code=exc.code.value)
    except BaseException:  # a bug or a cancellation: free the lease, keep the cursor, re-raise
        await ctx.store.save_sync_state(_released(run.state, last_error=run.state.last_error))
        raise


async def _read_page(run: _Run, page_size: int, sleep: Sleep) -> tuple[list[AssessmentOrder], str | None]:
    """One page; a 429 waits (Retry-After, else exponential from 1 s with jitter) and asks again."""
    attempt = 0
    while True:
        try:
            return await run.adapter.list_orders(
                cursor=run.state.cursor, page_size=page_size, created_after=run.state.created_after
            )
        except ProviderRateLimitedError as exc:
            delay = backoff_delay(attempt, exc.retry_after)
            if run.retries_left <= 0 or delay > MAX_WAIT_SECONDS:
                raise
            run.retries_left -= 1
            attempt += 1
            await sleep(delay)


def backoff_delay(attempt: int, retry_after: float | None) -> float:
    """The wait before retry number `attempt + 1`: the provider's Retry-After when given,
    else 1 s, 2 s, 4 s ... each stretched by up to 50 % of random jitter."""
    if retry_after is not None:
        return retry_after
    return float(2**attempt) * random.uniform(1.0, 1.5)


def _finished(state: SyncState, now: datetime) -> SyncState:
    """The next run's window starts where this run (or the run it resumed) started."""
    return state.model_copy(update={
        "cursor": None, "created_after": state.run_started_at or now, "lease_until": None,
        "last_finished_at": now, "last_error": None,
    })  # fmt: skip


def _released(state: SyncState, *, last_error: str | None) -> SyncState:
    return state.model_copy(update={"lease_until": None, "last_error": last_error})


def _report(run: _Run, *, finished: bool = False, error_code: str | None = None) -> SyncReport:
    return SyncReport(
        run.state.connection_id, pages_read=run.pages_read, orders_seen=run.orders_seen,
        finished=finished, error_code=error_code, resumed=run.resumed,
    )  # fmt: skip
