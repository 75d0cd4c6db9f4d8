"""Orders: insert or replace by (connection, provider order id), and batched reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import select, update

from app import Services
from providers.errors import StoredRecordUnreadableError
from providers.models import (
    Application,
    AssessmentOrder,
    AssessmentResult,
    Candidate,
    Delivery,
    DeliveryState,
    Job,
    OrderRef,
    OrderStatus,
    Package,
    ProviderName,
    Score,
)
from store import OrderFilter, OrderSort, SqlStore
from store.decode import read_result
from store.interface import DeliveryClaim
from store.tables import orders, results
from tests.conftest import FIXED_NOW
from tests.store.store_samples import T0, make_order, make_result, ref_of


async def test_upsert_inserts_then_replaces(store: SqlStore) -> None:
    # given a stored order
    order = make_order("o-1", status=OrderStatus.OPEN)
    await store.upsert_order(order)
    # when the same (connection, provider order id) arrives again, changed
    changed = order.model_copy(update={"status": OrderStatus.COMPLETED, "provider_status": "done"})
    await store.upsert_order(changed)
    # then it replaced the first, and there is still one order
    assert await store.get_orders([ref_of(order)]) == {ref_of(order): changed}
    page = await store.list_orders(OrderFilter(), first=10)
    assert (page.total_count, page.orders) == (1, [changed])


async def test_every_field_round_trips(store: SqlStore) -> None:
    order = AssessmentOrder(
        connection_id="conn:with:colons",
        provider=ProviderName.UNIFIED_TO,
        provider_order_id="ünïcode/ id",
        status=OrderStatus.IN_PROGRESS,
        provider_status="IN_REVIEW",
        package=Package(id="pkg-9", name="Python"),
        candidate=Candidate(first_name="Ada", last_name="Lovelace", emails=("ada@example.com",)),
        application=Application(remote_id="app-1"),
        job=Job(remote_id="job-1", title="Engineer"),
        created_at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=2))),
        updated_at=datetime(2026, 1, 3, tzinfo=UTC),
        raw={"nested": {"list": [1, 2.5, None, "x"]}},
    )
    await store.upsert_order(order)
    assert await store.get_orders([ref_of(order)]) == {ref_of(order): order}


async def test_replacing_without_created_at_keeps_the_insertion_time(store: SqlStore) -> None:
    # given two orders without created_at, stored one after the other
    first, second = make_order("o-1", created=None), make_order("o-2", created=None)
    await store.upsert_order(first)
    await store.upsert_order(second)
    # when the first is replaced
    await store.upsert_order(first.model_copy(update={"status": OrderStatus.COMPLETED}))
    # then it still sorts by when it was first inserted
    page = await store.list_orders(OrderFilter(), first=10, sort=OrderSort.CREATED_AT_ASC)
    assert [o.provider_order_id for o in page.orders] == ["o-1", "o-2"]


async def test_get_orders_reads_any_number_in_one_query(store: SqlStore) -> None:
    # given 100 stored orders
    orders = [make_order(f"o-{n}", connection_id=f"conn-{n % 3}") for n in range(100)]
    for order in orders:
        await store.upsert_order(order)
    refs = [ref_of(order) for order in orders] + [OrderRef("conn-0", "missing")]
    # when they are read together with one unknown ref
    before = store.query_count
    found = await store.get_orders(refs)
    # then one statement found exactly the stored ones
    assert store.query_count - before == 1
    assert found == {ref_of(order): order for order in orders}


async def test_get_orders_with_no_refs_runs_no_query(store: SqlStore) -> None:
    before = store.query_count
    assert await store.get_orders([]) == {}
    assert store.query_count == before


async def test_a_kept_decode_is_used_only_for_the_very_same_stored_text(store: SqlStore) -> None:
    # given an order read once (its decode is kept)
    order = make_order("o-1", status=OrderStatus.OPEN)
    await store.upsert_order(order)
    first = (await store.get_orders([ref_of(order)]))[ref_of(order)]
    # when it is read again unchanged, then the kept decode comes back
    assert (await store.get_orders([ref_of(order)]))[ref_of(order)] is first
    assert (await store.list_orders(OrderFilter(), first=1)).orders[0] is first
    # when the stored text changes in any way, even with the same updated_at, then it is decoded anew
    changed = order.model_copy(update={"provider_status": "changed"})
    await store.upsert_order(changed)
    assert (await store.get_orders([ref_of(order)]))[ref_of(order)] == changed
    # and a record changed behind the store's back into one that no longer reads is the coded error
    async with store.engine.begin() as conn:
        await conn.execute(orders.update().values(data='{"connection_id": 1}'))
    unreadable = (await store.get_orders([ref_of(order)]))[ref_of(order)]
    assert isinstance(unreadable, StoredRecordUnreadableError)
    assert isinstance((await store.list_orders(OrderFilter(), first=1)).orders[0], StoredRecordUnreadableError)


async def test_an_order_written_is_read_back_without_decoding_and_equals_its_decoded_text(services: Services) -> None:
    # given every seeded order, as stored, and each as the merge of a delivered result leaves it
    page = await services.store.list_orders(OrderFilter(), first=200)
    assert len(page.orders) > 10
    merged = [o.model_copy(update={"status": OrderStatus.COMPLETED, "provider_status": "passed", "updated_at": FIXED_NOW})
              for o in page.orders if isinstance(o, AssessmentOrder)]  # fmt: skip
    for order in merged:
        # when the store writes it and reads it back
        await services.store.upsert_order(order)
        ref = OrderRef(order.connection_id, order.provider_order_id)
        again = (await services.store.get_orders([ref]))[ref]
        # then the read is the very order written (its stored text was not decoded again) ...
        assert again is order
        # ... which is what decoding that text gives (so the cache is exact)
        assert AssessmentOrder.model_validate_json(order.model_dump_json()) == order
    # and text written by anyone else is decoded as before
    other = merged[0].model_copy(update={"provider_status": "changed elsewhere"})
    async with services.store.engine.begin() as conn:  # type: ignore[attr-defined]
        await conn.execute(update(orders).where(orders.c.id == other.global_id).values(data=other.model_dump_json()))
    ref = OrderRef(other.connection_id, other.provider_order_id)
    assert (await services.store.get_orders([ref]))[ref] == other


async def test_a_written_result_read_back_decodes_only_its_delivery_and_equals_its_full_decode(store: SqlStore) -> None:
    # given a result recorded with its send begun, then delivered
    order = make_order("o-r", status=OrderStatus.OPEN)
    await store.upsert_order(order)
    ref = ref_of(order)
    result = make_result("r-1").model_copy(update={"update": make_result("r-1").update.model_copy(
        update={"score": Score(value=7, max=10), "passthrough": {"k": [1, "two"]}})})  # fmt: skip
    claim = DeliveryClaim(holder="A", now=T0, lease_until=T0 + timedelta(seconds=30))
    token = await store.record_delivery(ref, result, {}, {"body": {}}, claim, begin_send=True)
    done = Delivery(state=DeliveryState.DELIVERED, attempts=1, sends=1, updated_at=T0, provider_status_code=200)
    await store.finish_attempt(ref, "r-1", done, None, "A", token)
    # when the mutation's read of the order and its newest result runs
    _, latest = await store.order_and_latest_result(ref)
    # then its input is the very one written (not decoded again), with the delivery as stored now ...
    assert isinstance(latest, AssessmentResult)
    assert latest.update is result.update and latest.delivery == done
    # ... and it equals what decoding the stored row in full gives (so the kept part is exact)
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(results.c.data, results.c.delivery).where(results.c.id == "r-1"))).one()
    assert latest == read_result(row.data, row.delivery, "r-1")
    assert (await store.latest_results([ref]))[ref] == latest
    # when the stored text changes behind the store's back, then it is decoded anew
    changed = result.update.model_copy(update={"summary": "changed elsewhere"})
    async with store.engine.begin() as conn:
        data = result.model_copy(update={"update": changed}).model_dump_json(exclude={"delivery"})
        await conn.execute(update(results).where(results.c.id == "r-1").values(data=data))
    _, latest = await store.order_and_latest_result(ref)
    assert isinstance(latest, AssessmentResult) and latest.update == changed
    # and a delivery that no longer reads is the coded error, kept text or not
    async with store.engine.begin() as conn:
        await conn.execute(update(results).where(results.c.id == "r-1").values(data=result.model_dump_json(exclude={"delivery"}), delivery='{"state": 1}'))
    _, latest = await store.order_and_latest_result(ref)
    assert isinstance(latest, StoredRecordUnreadableError)
