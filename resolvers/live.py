"""Live order events: recording them, and streaming them to subscribers with replay from a cursor.

Every change subscribers are told about is appended to the store's event log (`emit`). One
`EventHub` per instance reads the log when the bus says it grew (or every `poll_seconds`) and hands
each event to the bounded queue of every matching subscriber. A subscription with `after` replays
the log from that cursor up to where the hub stood when it joined, then takes the live queue:
in log order, with no gap and no duplicate. A subscriber whose queue overflows is ended with
SUBSCRIBER_TOO_SLOW and resumes with the last cursor it received.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from providers.errors import EventCursorExpiredError, SubscriberTooSlowError
from providers.models import AssessmentOrder, OrderRef, OrderStatus, ProviderName
from store import OrderEvent, OrderEventKind, Store
from store.bus import EventBus
from store.events import decode_event_cursor, encode_event_cursor

log = logging.getLogger("gateway.events")


class LivePolicy(BaseModel):
    """`[events]` in the configuration: the live-event log and its subscriptions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    retention_hours: float = Field(default=24.0, gt=0, le=24 * 90)  # `after` reaches this far back
    queue_size: int = Field(default=256, ge=1, le=100_000)  # events waiting per subscriber
    max_subscriptions_per_client: int = Field(default=20, ge=1, le=100_000)  # per instance
    keepalive_seconds: float = Field(default=15.0, gt=0, le=600)  # WebSocket ping / SSE comment
    connection_init_seconds: float = Field(default=5.0, gt=0, le=300)  # WebSocket connection_init wait
    poll_seconds: float = Field(default=5.0, gt=0, le=300)  # the hub reads the log at least this often

    @property
    def retention(self) -> timedelta:
        return timedelta(hours=self.retention_hours)


@dataclass
class StreamSignals:
    """What a transport learns from a subscription as it runs: that it is live (set up, cursor
    accepted), and that it fell behind (its queue overflowed; what comes next is SUBSCRIBER_TOO_SLOW)."""

    live: asyncio.Event = field(default_factory=asyncio.Event)
    lagged: asyncio.Event = field(default_factory=asyncio.Event)
    on_lag: Callable[[], None] | None = None  # the transport's, called when `lagged` is set

    def lag(self) -> None:
        self.lagged.set()
        if self.on_lag is not None:
            self.on_lag()


@dataclass(frozen=True)
class EventFilter:
    """Which events a subscriber wants; empty tuples mean "any"; fields AND together."""

    providers: tuple[ProviderName, ...] = ()
    connection_ids: tuple[str, ...] = ()
    statuses: tuple[OrderStatus, ...] = ()
    kinds: tuple[OrderEventKind, ...] = ()

    def matches(self, event: OrderEvent) -> bool:
        return (
            (not self.providers or event.provider in self.providers)
            and (not self.connection_ids or event.connection_id in self.connection_ids)
            and (not self.statuses or event.status in self.statuses)
            and (not self.kinds or event.kind in self.kinds)
        )


_LAGGED, _CLOSED = object(), object()


class Subscriber:
    """One subscription's live queue; it sees only events of `visible` connections."""

    def __init__(self, visible: frozenset[str], filter: EventFilter, live_from: int, size: int,
                 signals: StreamSignals | None = None) -> None:  # fmt: skip
        self.visible, self.filter, self.live_from = visible, filter, live_from
        self.queue: asyncio.Queue[object] = asyncio.Queue(size + 1)  # + room for the end marker
        self._size = size
        self.signals = signals
        self.ended = False

    def offer(self, event: OrderEvent) -> None:
        if self.ended or event.seq <= self.live_from:
            return
        if event.connection_id not in self.visible or not self.filter.matches(event):
            return
        if self.queue.qsize() >= self._size:
            self._end(_LAGGED)
            if self.signals is not None:
                self.signals.lag()
            return
        self.queue.put_nowait(event)

    def _end(self, marker: object) -> None:
        if self.ended:
            return
        self.ended = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(marker)

    def close(self) -> None:
        self._end(_CLOSED)


_PUMP_BATCH = 500


class EventHub:
    """Fans the event log out to this instance's subscribers."""

    def __init__(self, store: Store, bus: EventBus, policy: LivePolicy, clock: Callable[[], datetime]) -> None:
        self.store, self.bus, self.policy, self.clock = store, bus, policy, clock
        self.subscribers: set[Subscriber] = set()
        self.last_seq = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pruned_at: datetime | None = None
        self._behind = False  # events may have been appended past `last_seq` while nobody subscribed

    async def start(self) -> None:
        self.last_seq = await self.store.last_order_event_seq()
        self.bus.on_append(self._appended)
        await self.bus.start()
        self._task = asyncio.create_task(self._loop(), name="event-hub")

    def appended(self) -> None:
        """This process appended to the log: read it now (other instances hear it through the bus)."""
        self.bus.appended()

    def _appended(self) -> None:
        if self.subscribers:
            self._wake.set()
        else:  # nobody to hand them to: not read (`catch_up` moves past them), no pass of the pump
            self._behind = True

    async def catch_up(self) -> None:
        """Move `last_seq` past what was appended while nobody subscribed (the pump did not read it),
        so a subscriber registered next starts at the end of the log, not at older events."""
        if self._behind:
            self._behind = False  # (set again by a pump during the read: caught up next time)
            self.last_seq = max(self.last_seq, await self.store.last_order_event_seq())

    def register(self, visible: frozenset[str], filter: EventFilter, after: int = 0,
                 signals: StreamSignals | None = None) -> Subscriber:  # fmt: skip
        """A subscriber handed every event past where the hub has read (and past `after`: what it
        resumes from is never handed twice, even when the hub has not read that far yet)."""
        subscriber = Subscriber(visible, filter, max(self.last_seq, after), self.policy.queue_size, signals)
        self.subscribers.add(subscriber)
        return subscriber

    def unregister(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.policy.poll_seconds):  # (wait_for may swallow a cancel on 3.11)
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.pump()
                await self._prune()
            except Exception as exc:  # the store is unreachable: the next wake or poll catches up
                log.warning("event hub: reading the event log failed (%s); retrying", type(exc).__name__)

    async def pump(self) -> int:
        """Hand every event appended since the last read to the subscribers; how many."""
        handed = 0
        while True:
            if not self.subscribers:  # nobody to hand them to: not read now (`catch_up` moves past them)
                self._behind = True
                return handed
            events = await self.store.order_events_after(self.last_seq, None, limit=_PUMP_BATCH)
            for event in events:
                for subscriber in list(self.subscribers):
                    subscriber.offer(event)
            if events:
                self.last_seq, handed = events[-1].seq, handed + len(events)
            if len(events) < _PUMP_BATCH:  # read to the end
                return handed

    async def _prune(self) -> None:
        now = self.clock()
        if self._pruned_at is None or now - self._pruned_at > timedelta(minutes=5):
            self._pruned_at = now
            await self.store.prune_order_events(now - self.policy.retention)

    async def stop(self) -> None:
        """End every subscription (the transports close them with their protocol's codes)."""
        for subscriber in list(self.subscribers):
            subscriber.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.bus.close()


# --------------------------------------------------------------------------- recording


def order_events(
    hub: EventHub | None, kind: OrderEventKind, orders: Sequence[AssessmentOrder], at: datetime
) -> tuple[OrderEvent, ...]:
    """One event per order, for a store write that appends them with the change (none without a hub)."""
    if hub is None:
        return ()
    return tuple(
        OrderEvent(kind=kind, order_id=o.global_id, connection_id=o.connection_id, provider=o.provider,
                   status=o.status, at=at)  # fmt: skip
        for o in orders
    )


async def emit(store: Store, hub: EventHub | None, kind: OrderEventKind, orders: Sequence[AssessmentOrder],
               at: datetime) -> None:  # fmt: skip
    """Append one event per order. The change itself is already committed, so a failure here is
    logged, never raised: the caller's write stands."""
    events = order_events(hub, kind, orders, at)
    if hub is not None and await store.append_after_change(events):
        hub.appended()


async def delivery_changed(
    store: Store, hub: EventHub | None, ref: OrderRef, order: AssessmentOrder | None = None
) -> None:
    """A DELIVERY_CHANGED event for the order (read from the store when not at hand)."""
    if hub is None:
        return
    if order is None:
        try:  # the change is committed: a store that fails now loses this one event, never the caller's work
            found = (await store.get_orders([ref])).get(ref)
        except Exception as exc:
            log.warning("a DELIVERY_CHANGED event was not recorded (%s)", type(exc).__name__)
            return
        order = found if isinstance(found, AssessmentOrder) else None
    if order is not None:
        await emit(store, hub, OrderEventKind.DELIVERY_CHANGED, [order], hub.clock())


# --------------------------------------------------------------------------- subscribing


async def current_cursor(store: Store, hub: EventHub) -> str:
    """A cursor at the end of the log now: subscribing with it as `after` misses nothing from here on."""
    return encode_event_cursor(await store.event_cursor_key(), await store.last_order_event_seq(), hub.clock())


@dataclass(frozen=True)
class LiveEvent:
    event: OrderEvent
    order: AssessmentOrder
    cursor: str


async def subscribe(
    store: Store, hub: EventHub, visible: frozenset[str], filter: EventFilter, after: str | None,
    signals: StreamSignals | None = None,
) -> AsyncIterator[LiveEvent]:
    """Events of `visible` connections matching `filter`: those after `after` first, then live.
    `signals.live` is set once the cursor is accepted and the subscriber registered."""
    key = await store.event_cursor_key()
    start = None
    if after is not None:
        start, at = decode_event_cursor(key, after)
        if at < hub.clock() - hub.policy.retention:
            raise EventCursorExpiredError("The cursor is older than the event retention; list the orders again.")
    await hub.catch_up()
    subscriber = hub.register(visible, filter, start or 0, signals)  # (no await between: nothing missed)
    live = signals.live.set if signals is not None else _nothing
    try:
        if start is None:
            live()
        else:  # live once the store answered the first read of the replay
            async for event in _replay(store, visible, filter, start, subscriber.live_from, live):
                if (item := await _with_order(store, key, event)) is not None:
                    yield item
        while True:
            item = await subscriber.queue.get()
            if item is _LAGGED:
                raise SubscriberTooSlowError("The subscriber fell behind; resume with the last cursor received.")
            if item is _CLOSED:
                return
            assert isinstance(item, OrderEvent)
            if (live := await _with_order(store, key, item)) is not None:
                yield live
    finally:
        hub.unregister(subscriber)


def _nothing() -> None:
    return None


async def _replay(
    store: Store, visible: frozenset[str], filter: EventFilter, after: int, until: int, read: Callable[[], None]
) -> AsyncIterator[OrderEvent]:
    """The log from `after` to `until`; `read` is called once the first batch was read."""
    position = after
    if position >= until:
        read()
    while position < until:
        batch = await store.order_events_after(position, sorted(visible), until=until, limit=500)
        read()
        if not batch:
            return
        for event in batch:
            position = event.seq
            if filter.matches(event):
                yield event


async def _with_order(store: Store, key: bytes, event: OrderEvent) -> LiveEvent | None:
    """The event with its order as stored now; None when the order cannot be read (it is skipped)."""
    ref = OrderRef.parse(event.order_id)
    order = (await store.get_orders([ref])).get(ref)
    if not isinstance(order, AssessmentOrder):
        return None
    return LiveEvent(event, order, encode_event_cursor(key, event.seq, event.at))
