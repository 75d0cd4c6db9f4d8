"""The fault scenarios: each builds its world on the harness, injects its fault mid-run and returns
the outcome of every order. `Size` scales them (reduced for the test suite, full for the bench)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tests.faults.harness import Harness, sigterm
from tests.faults.report import Outcome


@dataclass(frozen=True)
class Size:
    orders: int
    per_order: int  # results written per order, one after the other
    latency: float  # provider processing time in the kill/SIGTERM scenarios
    outage: float  # seconds the store is down
    storm: float  # seconds of the 429 storm


REDUCED = Size(orders=20, per_order=2, latency=1.0, outage=4.0, storm=3.0)
FULL = Size(orders=300, per_order=2, latency=2.0, outage=8.0, storm=8.0)


def _in_flight(h: Harness, at_least: int) -> Callable[[], bool]:
    return lambda: h.fake.record.in_flight_now() >= at_least


async def kill_9_mid_call(h: Harness, size: Size) -> Outcome:
    """One instance is killed with SIGKILL while writes are in flight; a fresh one takes over."""
    h.fake.behaviour.latency = size.latency
    h.quarantine(size.latency + 1)
    await h.prepare(size.orders)
    (first,) = await h.start("first")
    h.use(first)
    async with h.load(size.per_order) as load:
        await h.until(_in_flight(h, max(3, size.orders // 3)))
        first.kill()
        ended = time.monotonic()
        h.use(*await h.start("second"))
        await load
    return await h.settle(ended)


async def two_instances_kill_one(h: Harness, size: Size) -> Outcome:
    """Two instances on one PostgreSQL share the load; one is killed with SIGKILL mid-call; a tenth of
    the writes are applied and then their connection drops (an outcome the service cannot see)."""
    h.fake.behaviour.latency, h.fake.behaviour.drop_rate = size.latency, 0.1
    h.quarantine(size.latency + 1)
    await h.prepare(size.orders)
    first, second = await h.start("first", "second")
    h.use(first, second)
    async with h.load(size.per_order) as load:
        await h.until(_in_flight(h, max(3, size.orders // 3)))
        first.kill()
        ended = time.monotonic()
        h.use(second)
        await load
    return await h.settle(ended)


async def store_outage(h: Harness, size: Size) -> Outcome:
    """PostgreSQL is stopped (`-m immediate`) while writes are in flight and callers keep writing; the
    service runs on and is not restarted."""
    h.fake.behaviour.latency = 0.3
    h.quarantine(1.3)
    await h.prepare(size.orders)
    h.use(*await h.start("only"))
    async with h.load(size.per_order) as load:
        await h.until(_in_flight(h, 3))
        await asyncio.to_thread(h.cluster.stop)
        await asyncio.sleep(size.outage / 2)  # callers keep writing meanwhile
        ready, health = await h.probe("/ready"), await h.probe("/health")
        await asyncio.sleep(size.outage / 2)
        await asyncio.to_thread(h.cluster.start)
        ended = time.monotonic()
        await load
    outcome = await h.settle(ended)
    if (ready, health) != (503, 200):
        outcome.problems.append(f"during the outage /ready said {ready} (want 503), /health {health} (want 200)")
    return outcome


async def answer_after_timeout(h: Harness, size: Size) -> Outcome:
    """Every order's first write is answered after the connection's whole-call timeout (the provider
    still applies it); later writes are fast."""
    h.connection["timeout_seconds"] = 1.5
    h.fake.behaviour.first_latency, h.fake.behaviour.latency = 2.5, 0.05
    h.quarantine(3.5)
    await h.prepare(size.orders)
    h.use(*await h.start("only"))
    async with h.load(size.per_order) as load:
        await load
    return await h.settle(time.monotonic())


async def sigterm_past_grace(h: Harness, size: Size) -> Outcome:
    """Two instances; the one taking the writes gets SIGTERM while they take longer than its shutdown
    grace period; the other one carries on."""
    h.fake.behaviour.latency = size.latency * 2.5  # > the grace period (1 s), < the whole-call timeout
    h.connection["timeout_seconds"] = h.fake.behaviour.latency + 2
    h.quarantine(h.fake.behaviour.latency + 1)
    await h.prepare(size.orders)
    first, second = await h.start("first", "second")
    h.use(first)
    async with h.load(size.per_order) as load:
        await h.until(_in_flight(h, max(3, size.orders // 3)))
        sigterm(first)
        h.use(second)
        ended = time.monotonic()
        await load
    return await h.settle(ended)


async def rate_limit_storm(h: Harness, size: Size) -> Outcome:
    """Every write is refused with 429 (Retry-After 0.5 s) for a while from the first write on (so a
    slow start of the service on a starved machine cannot miss it); then the provider recovers."""
    h.fake.behaviour.latency, h.fake.behaviour.retry_after = 0.05, 0.5
    h.quarantine(1)
    await h.prepare(size.orders)
    h.use(*await h.start("only"))
    h.fake.behaviour.storm_for = size.storm
    async with h.load(size.per_order) as load:
        await load
    outcome = await h.settle(h.fake.behaviour.storm_until)
    refused = sorted(v.arrived for v in h.fake.record.visits if v.status == 429)
    first = refused[0] if refused else 0.0
    later = [t for t in refused if t > first + h.fake.behaviour.retry_after / 2]
    outcome.figures.max_burst = max((sum(1 for u in later if t <= u < t + 0.1) for t in later), default=0)
    return outcome


Scenario = Callable[[Harness, Size], Awaitable[Outcome]]
SCENARIOS: dict[str, Scenario] = {
    "kill -9 mid-call": kill_9_mid_call,
    "two instances, kill -9 one": two_instances_kill_one,
    "store stopped": store_outage,
    "answer after the timeout": answer_after_timeout,
    "SIGTERM past the grace period": sigterm_past_grace,
    "429 storm": rate_limit_storm,
}
