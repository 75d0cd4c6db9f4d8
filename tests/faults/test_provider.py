"""The fake provider's record is what the scenarios judge by, so it is tested too: it flags two writes
for one order in flight at once (and only those), applies a write when it finishes even when the
connection then drops, and answers a 429 storm without applying anything."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.faults.provider import served_provider

PATH = "/unified/ats/assessments/orders/{}/result"


async def patch(http: httpx.AsyncClient, order: str, summary: str) -> int:
    try:
        return (await http.patch(PATH.format(order), json={"summary": summary})).status_code
    except httpx.RemoteProtocolError:
        return 0


async def test_two_writes_for_one_order_at_once_are_an_overlap_two_orders_are_not() -> None:
    with served_provider() as (fake, url):
        fake.behaviour.latency = 0.3
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            # two orders at once: no overlap
            assert await asyncio.gather(patch(http, "a", "a-r1"), patch(http, "b", "b-r1")) == [200, 200]
            assert fake.record.overlaps == []
            # one order twice at once: an overlap, both applied, in the order they finished
            assert await asyncio.gather(patch(http, "a", "a-r2"), patch(http, "a", "a-r3")) == [200, 200]
    assert [order for order, _ in fake.record.overlaps] == ["a"]
    assert sorted(fake.record.applications["a"]) == ["a-r1", "a-r2", "a-r3"]
    assert fake.record.current["a"] in ("a-r2", "a-r3") and fake.record.in_flight_now() == 0


async def test_a_dropped_connection_was_applied_and_a_storm_applies_nothing() -> None:
    with served_provider() as (fake, url):
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            fake.behaviour.drop_rate = 1.0
            assert await patch(http, "a", "a-r1") == 0  # the caller cannot see the outcome
            fake.behaviour.drop_rate = 0.0
            fake.behaviour.storm_until = time.monotonic() + 60
            assert await patch(http, "a", "a-r2") == 429
    assert fake.record.applications["a"] == ["a-r1"] and fake.record.current["a"] == "a-r1"
    assert [(v.summary, v.status, v.applied) for v in fake.record.visits] == [("a-r1", 0, True), ("a-r2", 429, False)]
