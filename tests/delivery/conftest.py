"""Delivery fixtures: the service on SQLite and on PostgreSQL (a fresh database each), with a fast
delivery policy, the background deliverer running and a real clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app import Services, build_services, create_app
from providers.models import DeliveryState, OrderRef
from resolvers.dispatch import DeliveryPolicy
from sandbox import Sandboxes, create_sandbox_app
from server.deliverer import Deliverer
from server.settings import sandbox_settings
from tests.conftest import GraphQLClient
from tests.store.conftest import (
    fresh_pg_database,
    store_url,  # noqa: F401  (the SQLite / PostgreSQL parametrisation)
)

FAST = DeliveryPolicy(
    mutation_deadline_seconds=3, base_delay_seconds=0.05, max_delay_seconds=0.2, lease_margin_seconds=1,
    poll_interval_seconds=0.05, breaker_failures=3, breaker_cooldown_seconds=0.3, shutdown_grace_seconds=2,
)  # fmt: skip
CALL_TIMEOUT = 1.0  # whole-call timeout of every sandbox connection here
QUARANTINE = 0.5  # after an outcome that could not be seen, nothing is sent for the order this long


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database only (tests of several instances)."""
    async with fresh_pg_database("delivery_test") as url:
        yield url


@pytest.fixture
async def dbuilt(store_url: str, sandboxes: Sandboxes) -> AsyncIterator[Services]:  # noqa: F811
    """The service (no deliverer yet)."""
    settings = sandbox_settings(store_url)
    limits = {"timeout_seconds": CALL_TIMEOUT, "quarantine_seconds": QUARANTINE}
    connections = tuple(c.model_copy(update=limits) for c in settings.connections)
    settings = settings.model_copy(update={"delivery": FAST, "connections": connections})
    built = await build_services(settings, sandboxes=sandboxes)
    yield built
    await built.aclose()


@pytest.fixture
async def deliverer(dbuilt: Services) -> AsyncIterator[Deliverer]:
    running = Deliverer(dbuilt.context)
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def dservices(dbuilt: Services, deliverer: Deliverer) -> Services:
    """The service with its background deliverer running."""
    return dbuilt


async def passes(deliverer: Deliverer, count: int = 3) -> None:
    """Wait until the deliverer has made `count` more passes (each one claims whatever is due):
    after it, "nothing was sent" means the deliverer had its chances, however slow the machine."""
    target = deliverer.passes + count

    async def done() -> bool:
        deliverer.ctx.dispatch.wake()
        return deliverer.passes >= target

    await eventually(done)


def later(services: Services, seconds: float) -> None:
    """Move the service's clock forward: what was due within `seconds` is due now."""
    clock = services.context.clock
    services.context.clock = lambda: clock() + timedelta(seconds=seconds)


@pytest.fixture
async def dgql(dservices: Services) -> AsyncIterator[GraphQLClient]:
    transport = httpx.ASGITransport(app=create_app(dservices))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
        yield GraphQLClient(http)


@pytest.fixture
async def control(sandboxes: Sandboxes) -> AsyncIterator[httpx.AsyncClient]:
    """The sandboxes' control endpoints (`/<provider>/_sandbox/...`)."""
    transport = httpx.ASGITransport(app=create_sandbox_app(sandboxes))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
        yield http


class ManualClock:
    """A monotonic clock that moves only when the test says so (sandbox fault windows, guards)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 8.0) -> Any:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"not reached within {timeout} s (last: {value!r})")
        await asyncio.sleep(0.05)


async def delivery_state(services: Services, order_id: str) -> DeliveryState:
    ref = OrderRef.parse(order_id)
    return (await services.store.latest_results([ref]))[ref].delivery.state
