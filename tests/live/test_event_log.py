"""The event log, the hub and subscriptions on a real store (SQLite and PostgreSQL): replay then live
with no gap or duplicate, a slow subscriber ended with SUBSCRIBER_TOO_SLOW, expired and forged
cursors, retention, and two hubs on one PostgreSQL hearing each other through LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from providers.errors import EventCursorExpiredError, InvalidInputError, SubscriberTooSlowError
from resolvers.live import EventFilter, EventHub, LivePolicy, current_cursor, emit, subscribe
from store import OrderEventKind, SqlStore, create_store
from store.bus import LocalBus, PostgresBus, create_bus
from tests.conftest import FIXED_NOW
from tests.store.conftest import fresh_pg_database
from tests.store.store_samples import make_order

VISIBLE = frozenset({"acme-kombo"})


class Clock:
    def __init__(self) -> None:
        self.now = FIXED_NOW

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.now


@pytest.fixture
async def hub(store: SqlStore) -> AsyncIterator[EventHub]:
    opened = EventHub(store, LocalBus(), LivePolicy(queue_size=3, poll_seconds=0.05), Clock())
    await opened.start()
    yield opened
    await opened.stop()


async def orders(store: SqlStore, count: int, connection_id: str = "acme-kombo") -> list:  # type: ignore[type-arg]
    made = [make_order(f"{connection_id}-o{i}", connection_id=connection_id) for i in range(count)]
    for order in made:
        await store.upsert_order(order)
    return made


async def take(stream: AsyncIterator, count: int) -> list:  # type: ignore[type-arg]
    return [await asyncio.wait_for(anext(stream), 10) for _ in range(count)]


async def test_replay_then_live_in_order_without_gap_or_duplicate(store: SqlStore, hub: EventHub) -> None:
    # given two events before the cursor and two after it, recorded while nobody listens
    made = await orders(store, 5)
    await emit(store, hub, OrderEventKind.ORDER_RECEIVED, made[:2], hub.clock())
    cursor = await current_cursor(store, hub)
    await emit(store, hub, OrderEventKind.ORDER_RECEIVED, made[2:4], hub.clock())
    # when a subscriber resumes from the cursor, and one more event happens once it is live
    stream = subscribe(store, hub, VISIBLE, EventFilter(), cursor)
    replayed = await take(stream, 2)
    await emit(store, hub, OrderEventKind.ORDER_UPDATED, made[4:], hub.clock())
    live = await take(stream, 1)
    await stream.aclose()
    # then it gets exactly the three after the cursor, in log order
    got = [(e.event.kind, e.order.provider_order_id) for e in replayed + live]
    assert got == [(OrderEventKind.ORDER_RECEIVED, "acme-kombo-o2"), (OrderEventKind.ORDER_RECEIVED, "acme-kombo-o3"),
                   (OrderEventKind.ORDER_UPDATED, "acme-kombo-o4")]  # fmt: skip
    assert len({e.cursor for e in replayed + live}) == 3


async def test_other_connections_and_filtered_kinds_are_not_seen(store: SqlStore, hub: EventHub) -> None:
    mine, theirs = await orders(store, 1), await orders(store, 1, connection_id="other-kombo")
    stream = subscribe(store, hub, VISIBLE, EventFilter(kinds=(OrderEventKind.RESULT_RECORDED,)),
                       await current_cursor(store, hub))  # fmt: skip
    await emit(store, hub, OrderEventKind.RESULT_RECORDED, theirs, hub.clock())
    await emit(store, hub, OrderEventKind.ORDER_UPDATED, mine, hub.clock())
    await emit(store, hub, OrderEventKind.RESULT_RECORDED, mine, hub.clock())
    [only] = await take(stream, 1)
    await stream.aclose()
    assert (only.event.kind, only.event.connection_id) == (OrderEventKind.RESULT_RECORDED, "acme-kombo")


async def test_a_subscriber_that_falls_behind_is_ended_and_resumes_with_its_last_cursor(
    store: SqlStore, hub: EventHub
) -> None:
    # given a live subscriber (queue of 3) that took one event
    made = await orders(store, 6)
    stream = subscribe(store, hub, VISIBLE, EventFilter(), await current_cursor(store, hub))
    await emit(store, hub, OrderEventKind.ORDER_RECEIVED, made[:1], hub.clock())
    [last] = await take(stream, 1)
    # when five events are appended at once and it reads none of them meanwhile
    await emit(store, hub, OrderEventKind.ORDER_RECEIVED, made[1:], hub.clock())
    await hub.pump()
    # then its next read ends the subscription with SUBSCRIBER_TOO_SLOW
    with pytest.raises(SubscriberTooSlowError):
        await anext(stream)
    # and resuming with its last cursor replays all five
    resumed = subscribe(store, hub, VISIBLE, EventFilter(), last.cursor)
    assert [e.order.provider_order_id for e in await take(resumed, 5)] == [f"acme-kombo-o{i}" for i in range(1, 6)]
    await resumed.aclose()


async def test_expired_and_forged_cursors_are_refused(store: SqlStore, hub: EventHub) -> None:
    cursor = await current_cursor(store, hub)
    hub.clock.now += timedelta(hours=25)  # type: ignore[attr-defined]
    with pytest.raises(EventCursorExpiredError):
        await anext(subscribe(store, hub, VISIBLE, EventFilter(), cursor))
    for forged in ("", "abc", cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB"), "x" * 500):
        with pytest.raises(InvalidInputError):
            await anext(subscribe(store, hub, VISIBLE, EventFilter(), forged))


async def test_pruning_keeps_the_sequence_moving_forward(store: SqlStore, hub: EventHub) -> None:
    # given three events, all past the retention
    made = await orders(store, 4)
    await emit(store, hub, OrderEventKind.ORDER_RECEIVED, made[:3], hub.clock())
    before = await store.last_order_event_seq()
    # when they are pruned, then all but the newest go
    assert await store.prune_order_events(hub.clock() + timedelta(seconds=1)) == 2
    assert [e.seq for e in await store.order_events_after(0, None)] == [before]
    # and a pruning with nothing older than the newest deletes nothing
    assert await store.prune_order_events(hub.clock() + timedelta(seconds=1)) == 0
    # when another is appended, then its seq is larger (a cursor never points at a reused seq)
    await emit(store, hub, OrderEventKind.ORDER_RECEIVED, made[3:], hub.clock())
    assert [e.seq for e in await store.order_events_after(before, None)] == [before + 1]


async def test_pruning_stops_at_the_first_event_within_the_retention(store: SqlStore, hub: EventHub) -> None:
    # given two old events, two recent ones, and a late one stamped older than the recent ones
    made = await orders(store, 5)
    start = hub.clock()
    for i, minutes_ago in enumerate((120, 90, 10, 5, 60)):
        await emit(store, hub, OrderEventKind.ORDER_RECEIVED, made[i:i + 1], start - timedelta(minutes=minutes_ago))
    events = await store.order_events_after(0, None)
    # when what is older than 30 minutes is pruned
    assert await store.prune_order_events(start - timedelta(minutes=30)) == 2
    # then the log starts at the first recent event; what came after it is kept, whatever its time
    assert [e.seq for e in await store.order_events_after(0, None)] == [e.seq for e in events[2:]]


def test_the_bus_follows_the_database() -> None:
    assert isinstance(create_bus("sqlite+aiosqlite:///x.db"), LocalBus)
    assert isinstance(create_bus("postgresql+asyncpg://u@h:5432/d"), PostgresBus)


@pytest.mark.postgres
async def test_two_instances_on_postgresql_hear_each_other() -> None:
    async with fresh_pg_database("live_test") as url:
        stores = [create_store(url), create_store(url)]
        await stores[0].migrate()
        hubs = [EventHub(s, PostgresBus(url), LivePolicy(poll_seconds=60), Clock()) for s in stores]
        for h in hubs:
            await h.start()
        try:
            made = await orders(stores[0], 3)
            # a subscriber on instance A (no polling to speak of: only NOTIFY can wake its hub in time)
            stream = subscribe(stores[0], hubs[0], VISIBLE, EventFilter(), await current_cursor(stores[0], hubs[0]))
            first = asyncio.ensure_future(anext(stream))
            await asyncio.sleep(0.2)
            # when instance B records events
            await emit(stores[1], hubs[1], OrderEventKind.RESULT_RECORDED, made[:1], hubs[1].clock())
            await emit(stores[1], hubs[1], OrderEventKind.DELIVERY_CHANGED, made[:1], hubs[1].clock())
            # then A's subscriber gets them, in order
            got = [await asyncio.wait_for(first, 10)] + await take(stream, 1)
            assert [e.event.kind for e in got] == [OrderEventKind.RESULT_RECORDED, OrderEventKind.DELIVERY_CHANGED]
            await stream.aclose()
        finally:
            for h in hubs:
                await h.stop()
            for s in stores:
                await s.close()
