"""Webhook events and sync state, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from providers.models import OrderRef
from store import SqlStore, SyncState, WebhookEvent
from store.interface import EventWrite
from tests.store.store_samples import make_order

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def event(key: str, *order_ids: str) -> WebhookEvent:
    return WebhookEvent(
        connection_id="kombo-1", event_key=key, event_type="assessment:order-received",
        order_ids=order_ids, received_at=NOW, payload={"id": key, "data": {"n": 1}},
    )  # fmt: skip


async def test_event_and_its_orders_are_stored_once(store: SqlStore) -> None:
    # given an order arriving by webhook
    order = make_order("o-1", connection_id="kombo-1")
    # when the event is recorded, then redelivered
    first = await store.record_event(event("evt-1", order.global_id), [order])
    again = await store.record_event(event("evt-1", order.global_id), [order.model_copy(update={"provider_status": "X"})])
    # then the first wins, the redelivery changes nothing
    assert (first, again) == (True, False)
    ref = OrderRef("kombo-1", "o-1")
    assert (await store.get_orders([ref]))[ref] == order
    assert [e.event_key for e in await store.list_events("kombo-1")] == ["evt-1"]


async def test_a_later_event_for_the_same_order_wins_and_both_are_kept(store: SqlStore) -> None:
    order = make_order("o-2", connection_id="kombo-1")
    changed = order.model_copy(update={"provider_status": "COMPLETED"})
    await store.record_event(event("evt-a", order.global_id), [order])
    await store.record_event(event("evt-b", order.global_id), [changed])
    ref = OrderRef("kombo-1", "o-2")
    assert (await store.get_orders([ref]))[ref].provider_status == "COMPLETED"
    assert [e.event_key for e in await store.list_events("kombo-1")] == ["evt-a", "evt-b"]


async def test_a_group_of_events_is_recorded_as_one_by_one_in_order(store: SqlStore) -> None:
    # given an event already stored
    old = make_order("o-3", connection_id="kombo-1", updated=NOW - timedelta(hours=2))
    await store.record_event(event("evt-old", old.global_id), [old])
    newer = old.model_copy(update={"provider_status": "STARTED", "updated_at": NOW - timedelta(hours=1)})
    newest = old.model_copy(update={"provider_status": "COMPLETED", "updated_at": NOW})
    undated = make_order("o-4", connection_id="kombo-1", created=None)
    # when one group brings: a new event, a redelivery of the stored one, the same new key twice,
    # an order without dates, and the newest version of the order before an older one
    fresh = await store.record_events([
        EventWrite(event("evt-1", old.global_id), (newest,)),
        EventWrite(event("evt-old", old.global_id), (old.model_copy(update={"provider_status": "X"}),)),
        EventWrite(event("evt-2", undated.global_id), (undated,)),
        EventWrite(event("evt-2", undated.global_id), (undated,)),
        EventWrite(event("evt-3", old.global_id), (newer,)),
    ])  # fmt: skip
    # then each event is new or a redelivery exactly as if recorded one after the other
    assert fresh == [True, False, True, False, True]
    assert [e.event_key for e in await store.list_events("kombo-1")] == ["evt-old", "evt-1", "evt-2", "evt-3"]
    # and the newest version of the order stays (the older one after it changes nothing)
    got = await store.get_orders([OrderRef("kombo-1", "o-3"), OrderRef("kombo-1", "o-4")])
    assert got[OrderRef("kombo-1", "o-3")].provider_status == "COMPLETED"
    assert got[OrderRef("kombo-1", "o-4")].provider_order_id == "o-4"


async def test_sync_lease_is_exclusive_until_it_expires(store: SqlStore) -> None:
    # given no state yet, a first claim takes the lease
    claimed = await store.claim_sync("kombo-1", NOW, NOW + timedelta(minutes=5))
    assert claimed is not None and claimed.lease_until == NOW + timedelta(minutes=5)
    # then a second claim before expiry is refused, one after it succeeds
    assert await store.claim_sync("kombo-1", NOW + timedelta(minutes=1), NOW + timedelta(minutes=6)) is None
    later = await store.claim_sync("kombo-1", NOW + timedelta(minutes=5), NOW + timedelta(minutes=10))
    assert later is not None


async def test_sync_state_round_trips(store: SqlStore) -> None:
    state = SyncState(
        connection_id="kombo-1", created_after=NOW, cursor="page-3", run_started_at=NOW,
        lease_until=None, last_finished_at=None, last_error="PROVIDER_UNAVAILABLE", orders_seen=250,
    )  # fmt: skip
    await store.save_sync_state(state)
    assert await store.get_sync_state("kombo-1") == state
    assert await store.get_sync_state("other") is None
