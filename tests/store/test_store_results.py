"""Results: recorded with their delivery, finished atomically, newest per order, never lost."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from providers.errors import OrderNotFoundError
from providers.models import Delivery, DeliveryState, OrderRef, OrderStatus
from store import SqlStore, create_store
from store.tables import results
from tests.store.store_samples import at, make_order, make_result, ref_of

DELIVERED = Delivery(
    state=DeliveryState.DELIVERED,
    attempts=1,
    provider_status_code=200,
    provider_message="ok",
    provider_warnings=("score rounded",),
    updated_at=at(1),
)


async def test_record_delivery_stores_result_delivery_and_request(store: SqlStore) -> None:
    # given a stored order
    order = make_order("o-1")
    await store.upsert_order(order)
    result = make_result("r-1", key="idem-1")
    # when its result is recorded
    body = {"status": "COMPLETED", "score": 9.5}
    await store.record_delivery(ref_of(order), result, body, {"body": body}, None)
    # then it reads back whole, PENDING, with the request body kept for a retry
    assert await store.get_result("r-1") == result
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(results).where(results.c.id == "r-1"))).one()
    assert json.loads(row.request_body) == {"status": "COMPLETED", "score": 9.5}
    assert (row.idempotency_key, row.delivery_state, row.delivery_attempts) == ("idem-1", "PENDING", 0)


async def test_recording_a_result_for_an_unknown_order_is_not_found(store: SqlStore) -> None:
    with pytest.raises(OrderNotFoundError):
        await store.record_delivery(OrderRef("conn-a", "nope"), make_result("r-1"), {}, {"body": {}}, None)
    assert await store.get_result("r-1") is None


async def test_an_outcome_updates_the_delivery_and_replaces_the_order(store: SqlStore) -> None:
    # given an order with a PENDING result
    order = make_order("o-1")
    await store.upsert_order(order)
    await store.record_delivery(ref_of(order), make_result("r-1"), {}, {"body": {}}, None)
    # when the delivery finishes with the merged order
    merged = order.model_copy(update={"status": OrderStatus.COMPLETED, "updated_at": at(1)})
    await store.finish_attempt(ref_of(order), "r-1", DELIVERED, merged, "A")
    # then both changed
    result = await store.get_result("r-1")
    assert result is not None and result.delivery == DELIVERED
    assert await store.get_orders([ref_of(order)]) == {ref_of(order): merged}


async def test_an_outcome_without_an_order_keeps_the_order(store: SqlStore) -> None:
    order = make_order("o-1")
    await store.upsert_order(order)
    await store.record_delivery(ref_of(order), make_result("r-1"), {}, {"body": {}}, None)
    failed = Delivery(state=DeliveryState.FAILED, attempts=1, error_code="PROVIDER_UNAVAILABLE")
    await store.finish_attempt(ref_of(order), "r-1", failed, None, "A")
    assert (await store.latest_results([ref_of(order)]))[ref_of(order)].delivery == failed
    assert await store.get_orders([ref_of(order)]) == {ref_of(order): order}


async def test_an_outcome_of_an_unknown_result_changes_nothing(store: SqlStore) -> None:
    order = make_order("o-1")
    await store.upsert_order(order)
    merged = order.model_copy(update={"status": OrderStatus.COMPLETED})
    with pytest.raises(LookupError):
        await store.finish_attempt(ref_of(order), "missing", DELIVERED, merged, "A")
    assert await store.get_orders([ref_of(order)]) == {ref_of(order): order}


async def test_latest_results_takes_the_newest_per_order_in_one_query(store: SqlStore) -> None:
    # given three orders: two results (the one with the older timestamp recorded last), two results at
    # the same instant, none
    a, b, c = make_order("o-a"), make_order("o-b"), make_order("o-c")
    for order in (a, b, c):
        await store.upsert_order(order)
    await store.record_delivery(ref_of(a), make_result("a-new", at(5)), {}, {"body": {}}, None)
    await store.record_delivery(ref_of(a), make_result("a-old", at(1)), {}, {"body": {}}, None)
    await store.record_delivery(ref_of(b), make_result("b-first", at(2)), {}, {"body": {}}, None)
    await store.record_delivery(ref_of(b), make_result("b-second", at(2)), {}, {"body": {}}, None)
    # when the latest results are read together
    before = store.query_count
    latest = await store.latest_results([ref_of(a), ref_of(b), ref_of(c)])
    # then one query gave the newest of each: the one recorded last (insertion order, as superseding
    # and the deliverer go), whatever the timestamps say
    assert store.query_count - before == 1
    assert {ref.provider_order_id: r.id for ref, r in latest.items()} == {"o-a": "a-old", "o-b": "b-second"}


async def test_a_recorded_result_survives_closing_and_reopening(store_url: str) -> None:
    # given a result recorded, then the store closed before delivery finished
    first = create_store(store_url)
    await first.migrate()
    order = make_order("o-1")
    await first.upsert_order(order)
    body = {"status": "COMPLETED"}
    await first.record_delivery(ref_of(order), make_result("r-1"), body, {"body": body}, None)
    await first.close()
    # when the store is opened again
    again = create_store(store_url)
    try:
        await again.migrate()
        latest = await again.latest_results([ref_of(order)])
        by_id = await again.get_result("r-1")
    finally:
        await again.close()
    # then nothing was lost
    assert latest == {ref_of(order): make_result("r-1")}
    assert by_id == make_result("r-1")
