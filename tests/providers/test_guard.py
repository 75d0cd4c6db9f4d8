"""The connection guard: per-provider timeouts, the in-flight cap, the circuit breaker, Retry-After."""

from __future__ import annotations

import asyncio

import pytest

from providers.connections import Connection
from providers.errors import ProviderRateLimitedError, ProviderRejectedInputError, ProviderUnavailableError
from providers.guard import DEFAULT_LIMITS, BreakerState, ConnectionGuard, Limits, limits_for
from providers.models import ProviderName


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def guard(clock: Clock, cap: int = 3) -> ConnectionGuard:
    limits = Limits(connect=1, read=1, call=0.2, max_in_flight=cap)
    return ConnectionGuard(ProviderName.KOMBO, limits, failure_threshold=2, cooldown_seconds=10, clock=clock)


async def fail(error: Exception) -> None:
    raise error


def test_limits_default_per_provider_and_connection_overrides() -> None:
    base = Connection(id="k", provider=ProviderName.KOMBO, base_url="http://k", api_key="x", integration_id="i")
    assert limits_for(base) == DEFAULT_LIMITS[ProviderName.KOMBO]
    assert DEFAULT_LIMITS[ProviderName.KOMBO].max_in_flight < 30  # Kombo refuses ~30 concurrent actions
    tuned = base.model_copy(update={"timeout_seconds": 3, "read_timeout_seconds": 9, "max_in_flight": 4})
    assert limits_for(tuned) == Limits(connect=3, read=3, call=3, max_in_flight=4)


async def test_breaker_opens_probes_and_closes() -> None:
    clock = Clock()
    g = guard(clock)
    for _ in range(2):
        assert g.try_reserve()
        with pytest.raises(ProviderUnavailableError):
            await g.run(lambda: fail(ProviderUnavailableError("down")))
    assert g.state is BreakerState.OPEN and g.free_slots() == 0 and not g.try_reserve()
    clock.now += 10
    assert g.state is BreakerState.HALF_OPEN and g.try_reserve() and not g.try_reserve()  # one probe
    with pytest.raises(ProviderUnavailableError):
        await g.run(lambda: fail(ProviderUnavailableError("still down")))
    assert g.state is BreakerState.OPEN
    clock.now += 10
    assert g.try_reserve()
    await g.run(lambda: asyncio.sleep(0))
    assert g.state is BreakerState.CLOSED and g.free_slots() == 3


async def test_a_refusal_is_not_a_breaker_failure_and_429_pauses() -> None:
    clock = Clock()
    g = guard(clock)
    for _ in range(3):
        g.try_reserve()
        with pytest.raises(ProviderRejectedInputError):
            await g.run(lambda: fail(ProviderRejectedInputError("no")))
    assert g.state is BreakerState.CLOSED
    g.try_reserve()
    with pytest.raises(ProviderRateLimitedError):
        await g.run(lambda: fail(ProviderRateLimitedError("slow down", retry_after=7)))
    assert g.wait_seconds() == 7 and g.free_slots() == 0 and g.try_reserve(force=True)


async def test_whole_call_timeout_and_cap() -> None:
    g = guard(Clock(), cap=1)
    assert g.try_reserve() and not g.try_reserve()
    assert not await g.reserve(0.05)
    with pytest.raises(ProviderUnavailableError, match="did not answer within 0.2 s"):
        await g.run(lambda: asyncio.sleep(5))
    assert g.in_flight == 0 and await g.reserve(0.05)
