"""The delivery outbox on SQLite and PostgreSQL: one lease per order, expiry, supersede, cancel."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from providers.errors import InvalidInputError
from providers.models import Candidate, Delivery, DeliveryState, OrderStatus
from store import OrderFilter, OrderSort, SqlStore, create_store
from store.interface import DeliveryClaim
from tests.store.store_samples import T0, make_order, make_result, ref_of


def claim(holder: str, at: float = 0, lease: float = 30) -> DeliveryClaim:
    now = T0 + timedelta(seconds=at)
    return DeliveryClaim(holder=holder, now=now, lease_until=now + timedelta(seconds=lease))


def due(result_id: str, at: float = 0):  # type: ignore[no-untyped-def]
    result = make_result(result_id)
    delivery = Delivery(state=DeliveryState.PENDING, updated_at=T0, next_attempt_at=T0 + timedelta(seconds=at))
    return result.model_copy(update={"delivery": delivery})


async def test_one_holder_per_order_until_the_lease_expires(store: SqlStore) -> None:
    order = make_order("o-1")
    await store.upsert_order(order)
    # given a result recorded and claimed by instance A (which then crashes)
    assert await store.record_delivery(ref_of(order), due("r-1"), {}, {"body": {}}, claim("A", lease=10))
    # then nobody else gets it while the lease runs ...
    assert await store.claim_due(claim("B", at=5), {"conn-a": 5}, 10) == []
    # ... and B takes it once the lease has expired
    taken = await store.claim_due(claim("B", at=11), {"conn-a": 5}, 10)
    assert [r.result.id for r in taken] == ["r-1"] and taken[0].claimed_by == "B"


async def test_a_result_recorded_with_its_send_begun_is_counted_and_fenced_like_begin_send(store: SqlStore) -> None:
    order = make_order("o-1")
    ref = ref_of(order)
    await store.upsert_order(order)
    # given a result recorded with its send begun by A (which then crashes: no outcome is stored)
    token = await store.record_delivery(ref, due("r-1"), {}, {"body": {}}, claim("A", lease=10), begin_send=True)
    assert token is not None
    # then the send is counted, and A still holds the lease: its outcome would be stored
    recorded = await store.get_delivery("r-1", T0)
    assert recorded is not None and recorded.result.delivery.sends == 1 and recorded.claimed_by == "A"
    # and when the lease expires the request may have left: the order is quarantined, the result
    # UNCONFIRMED (as after begin_send), never handed to B as if nothing had been sent
    assert await store.claim_due(claim("B", at=11), {"conn-a": 5}, 10) == []
    after = await store.get_delivery("r-1", T0 + timedelta(seconds=11))
    assert after is not None and after.result.delivery.state is DeliveryState.UNCONFIRMED
    # a result queued behind a lease someone holds has nothing begun or counted
    assert await store.record_delivery(ref, due("r-2"), {}, {"body": {}}, claim("C", at=12), begin_send=True) is None
    queued = await store.get_delivery("r-2", T0)
    assert queued is not None and queued.result.delivery.sends == 0 and queued.claimed_by is None


async def test_concurrent_claims_never_share_an_order(store: SqlStore) -> None:
    orders = [make_order(f"o-{i}") for i in range(20)]
    for i, order in enumerate(orders):
        await store.upsert_order(order)
        await store.record_delivery(ref_of(order), due(f"r-{i}"), {}, {"body": {}}, None)
    # when four instances claim at the same moment
    batches = await asyncio.gather(*(store.claim_due(claim(h, at=1), {"conn-a": 20}, 8) for h in "ABCD"))
    # then no result is claimed twice (rows another instance is claiming are skipped, not waited
    # for), and the next passes claim the rest
    ids = [r.result.id for batch in batches for r in batch]
    assert len(ids) == len(set(ids)) and ids
    while len(ids) < 20:
        more = await store.claim_due(claim("E", at=1), {"conn-a": 20}, 8)
        assert more
        ids += [r.result.id for r in more]
    assert sorted(ids) == sorted(f"r-{i}" for i in range(20))


async def test_a_newer_result_supersedes_a_waiting_one_and_waits_for_one_in_flight(store: SqlStore) -> None:
    order = make_order("o-1")
    ref = ref_of(order)
    await store.upsert_order(order)
    await store.record_delivery(ref, due("r-1"), {}, {"body": {}}, None)
    # a newer result replaces the waiting one
    assert await store.record_delivery(ref, due("r-2"), {}, {"body": {}}, claim("A"))
    first = await store.get_delivery("r-1", T0)
    assert first is not None and first.result.delivery.state is DeliveryState.SUPERSEDED and not first.newest
    # a third one, while r-2 is in flight, is queued behind it (no lease) ...
    assert not await store.record_delivery(ref, due("r-3"), {}, {"body": {}}, claim("B"))
    # ... r-2's failure is then superseded rather than retried, and the lease is free for r-3
    retrying = Delivery(state=DeliveryState.RETRYING, attempts=1, next_attempt_at=T0)
    stored = await store.finish_attempt(ref, "r-2", retrying, None, "A")
    assert stored.state is DeliveryState.SUPERSEDED
    assert [r.result.id for r in await store.claim_due(claim("B", at=1), {"conn-a": 5}, 5)] == ["r-3"]


async def test_cancel_only_what_is_not_in_flight(store: SqlStore) -> None:
    order = make_order("o-1")
    await store.upsert_order(order)
    await store.record_delivery(ref_of(order), due("r-1"), {}, {"body": {}}, claim("A"))
    cancelled = Delivery(state=DeliveryState.CANCELLED)
    waiting = (DeliveryState.PENDING, DeliveryState.RETRYING)
    assert not await store.set_delivery("r-1", cancelled, waiting, T0)  # A is sending it
    assert await store.release_claims("A") == 1
    assert await store.set_delivery("r-1", cancelled, waiting, T0)
    assert await store.claim_due(claim("B", at=1), {"conn-a": 5}, 5) == []


async def test_deliveries_list_by_state_pages_forward(store: SqlStore) -> None:
    for i in range(5):
        order = make_order(f"o-{i}")
        await store.upsert_order(order)
        await store.record_delivery(ref_of(order), due(f"r-{i}"), {}, {"body": {}}, None)
    page = await store.list_deliveries([DeliveryState.PENDING], [], first=3, after=None, now=T0)
    assert [r.result.id for r in page.records] == ["r-0", "r-1", "r-2"] and page.has_next_page
    rest = await store.list_deliveries([DeliveryState.PENDING], [], first=3, after=page.cursors[-1], now=T0)
    assert [r.result.id for r in rest.records] == ["r-3", "r-4"] and not rest.has_next_page
    assert page.total_count == 5
    assert (await store.list_deliveries([DeliveryState.FAILED], [], first=3, after=None, now=T0)).total_count == 0


async def _record_for(store: SqlStore, connection_id: str, order_id: str, result_id: str) -> None:
    order = make_order(order_id, connection_id=connection_id)
    await store.upsert_order(order)
    await store.record_delivery(ref_of(order), due(result_id), {}, {"body": {}}, None)


async def test_delivery_cursors_say_nothing_about_other_tenants(store: SqlStore, tmp_path: Path) -> None:
    # given a tenant's result recorded after three of another tenant's results ...
    for i in range(3):
        await _record_for(store, "conn-a", f"o-a{i}", f"r-a{i}")
    await _record_for(store, "conn-b", "o-b", "r-b")
    # ... and the same result alone in another store
    alone = create_store(f"sqlite+aiosqlite:///{tmp_path / 'alone.db'}")
    await alone.migrate()
    await _record_for(alone, "conn-b", "o-b", "r-b")
    # when the tenant lists its deliveries in both
    crowded = await store.list_deliveries([], ["conn-b"], first=5, after=None, now=T0)
    lonely = await alone.list_deliveries([], ["conn-b"], first=5, after=None, now=T0)
    await alone.close()
    # then the cursors are the same: they carry the result's own time and id, not a global sequence
    assert crowded.cursors == lonely.cursors and len(crowded.cursors) == 1
    # and a cursor still pages (keyset on time and id), a forged one is a coded refusal
    everything = await store.list_deliveries([], [], first=2, after=None, now=T0)
    rest = await store.list_deliveries([], [], first=5, after=everything.cursors[-1], now=T0)
    assert [r.result.id for r in everything.records + rest.records] == ["r-a0", "r-a1", "r-a2", "r-b"]
    with pytest.raises(InvalidInputError):
        await store.list_deliveries([], [], first=5, after="ZGVsaXZlcnk6NQ", now=T0)


def _upgrade_to(connection, revision: str) -> None:  # type: ignore[no-untyped-def]
    from alembic import command

    from store.migrations import alembic_config

    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def test_upgrade_to_0004_makes_interrupted_writes_due_and_keys_unique(store_url: str) -> None:
    import json

    from sqlalchemy import insert, select

    from store import create_store
    from store.tables import results

    opened = create_store(store_url)
    try:
        # given a 0003 store holding an interrupted (PENDING) write and two FAILED repeats of one key
        async with opened.engine.begin() as conn:
            await conn.run_sync(_upgrade_to, "0003")
        order = make_order("o-1")
        await opened.upsert_order(order)
        rows = [("r-1", "PENDING", None, 0), ("r-2", "FAILED", "k", 1), ("r-3", "FAILED", "k", 2)]
        async with opened.engine.begin() as conn:
            for result_id, state, key, n in rows:
                delivery = Delivery(state=DeliveryState(state), updated_at=T0)
                await conn.execute(insert(results).values(
                    id=result_id, order_id=ref_of(order).encode(), created_at=T0 + timedelta(seconds=n),
                    idempotency_key=key, request_body=json.dumps({"status": "COMPLETED"}),
                    data=make_result(result_id).model_dump_json(exclude={"delivery"}),
                    delivery=delivery.model_dump_json(), delivery_state=state, delivery_attempts=0,
                    delivery_updated_at=T0,
                ))  # fmt: skip
        # when it migrates to head
        await opened.migrate()
        async with opened.engine.connect() as conn:
            got = {
                r.id: r for r in (await conn.execute(
                    select(results.c.id, results.c.connection_id, results.c.idempotency_key,
                           results.c.delivery_next_attempt_at)
                )).all()
            }  # fmt: skip
        # then the interrupted write is due now, every row knows its connection, the key stays on the newest
        assert got["r-1"].delivery_next_attempt_at == T0
        assert {r.connection_id for r in got.values()} == {"conn-a"}
        assert (got["r-2"].idempotency_key, got["r-3"].idempotency_key) == (None, "k")
        # and, being older than the order's newest result, it is superseded when due, never sent
        assert await opened.claim_due(claim("A", at=1), {"conn-a": 5}, 5) == []
        interrupted = await opened.get_delivery("r-1", T0)
        assert interrupted is not None and interrupted.result.delivery.state is DeliveryState.SUPERSEDED
    finally:
        await opened.close()


async def _sending(store: SqlStore, order, result_id: str) -> int:  # type: ignore[no-untyped-def]
    await store.upsert_order(order)
    token = await store.record_delivery(ref_of(order), due(result_id), {}, {"body": {}}, claim("A"), begin_send=True)
    assert token is not None
    return token


async def _found(store: SqlStore, **filters) -> list[str]:  # type: ignore[no-untyped-def]
    page = await store.list_orders(OrderFilter(**filters), first=10)
    return [o.provider_order_id for o in page.orders if not isinstance(o, Exception)]


async def test_a_delivered_result_merged_into_its_order_updates_the_order_everywhere(store: SqlStore) -> None:
    order = make_order("o-merge", candidate=Candidate(emails=["a@example.com"]))
    token = await _sending(store, order, "r-1")
    # when the attempt's outcome is stored with the order as the result left it
    merged = order.model_copy(update={"status": OrderStatus.COMPLETED, "updated_at": T0 + timedelta(minutes=5)})
    done = Delivery(state=DeliveryState.DELIVERED, attempts=1, sends=1, updated_at=T0)
    await store.finish_attempt(ref_of(order), "r-1", done, merged, "A", token)
    # then the stored order, its filters and its sort columns all say so
    assert (await store.get_orders([ref_of(order)]))[ref_of(order)] == merged
    assert await _found(store, statuses=(OrderStatus.COMPLETED,)) == ["o-merge"]
    assert await _found(store, statuses=(OrderStatus.OPEN,)) == []
    page = await store.list_orders(OrderFilter(), first=1, sort=OrderSort.UPDATED_AT_DESC)
    assert page.orders[0] == merged


async def test_an_order_changed_while_its_result_was_sent_is_written_whole_with_the_merge(store: SqlStore) -> None:
    order = make_order("o-race", candidate=Candidate(emails=["old@example.com"]))
    token = await _sending(store, order, "r-1")
    # given the order changed meanwhile (a webhook: another candidate address)
    await store.upsert_order(order.model_copy(update={"candidate": Candidate(emails=["new@example.com"])}))
    # when the outcome is stored with the order the attempt merged into (read before the change)
    merged = order.model_copy(update={"status": OrderStatus.COMPLETED, "updated_at": T0 + timedelta(minutes=5)})
    done = Delivery(state=DeliveryState.DELIVERED, attempts=1, sends=1, updated_at=T0)
    await store.finish_attempt(ref_of(order), "r-1", done, merged, "A", token)
    # then the row is that order throughout: its document and every column filters read agree
    assert (await store.get_orders([ref_of(order)]))[ref_of(order)] == merged
    assert await _found(store, candidate_email="old@example.com") == ["o-race"]
    assert await _found(store, candidate_email="new@example.com") == []
