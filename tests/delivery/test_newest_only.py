"""Only the newest result of an order is ever sent, on SQLite and PostgreSQL: whatever left an older
result due (a retry racing a newer write, an unconfirmed attempt finishing while a newer result was
being recorded), the store supersedes it when it would be claimed or sent, never hands it out after
a newer one, and the order's lease goes to the newest."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from providers.models import Delivery, DeliveryState, OrderRef
from store import SqlStore
from store.interface import DeliveryClaim
from tests.store.conftest import store, store_url  # noqa: F401  (fixtures)
from tests.store.store_samples import T0, make_order, make_result, ref_of

QUARANTINE = 5.0
RETRIABLE_NOW = (DeliveryState.FAILED, DeliveryState.RETRYING)


def claim(holder: str, at: float = 0, lease: float = 30) -> DeliveryClaim:
    now = T0 + timedelta(seconds=at)
    return DeliveryClaim(holder=holder, now=now, lease_until=now + timedelta(seconds=lease), quarantine_seconds=QUARANTINE)


def due(result_id: str, at: float = 0):  # type: ignore[no-untyped-def]
    delivery = Delivery(state=DeliveryState.PENDING, updated_at=T0, next_attempt_at=T0 + timedelta(seconds=at))
    return make_result(result_id).model_copy(update={"delivery": delivery})


def at(seconds: float):  # type: ignore[no-untyped-def]
    return T0 + timedelta(seconds=seconds)


async def state_of(store: SqlStore, result_id: str) -> DeliveryState:  # noqa: F811
    record = await store.get_delivery(result_id, T0)
    assert record is not None
    return record.result.delivery.state


async def deliver(store: SqlStore, ref, result_id: str, holder: str, token: int | None, when: float) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    assert token is not None
    sent = await store.begin_send(ref, result_id, holder, token, at(when + 30))
    assert sent is not None and sent.state is not DeliveryState.SUPERSEDED
    done = Delivery(state=DeliveryState.DELIVERED, attempts=1, sends=sent.sends, updated_at=at(when))
    await store.finish_attempt(ref, result_id, done, None, holder, token)


async def test_an_older_result_made_due_again_is_never_sent_after_the_newer(store: SqlStore) -> None:  # noqa: F811
    order = make_order("o-1")
    ref = ref_of(order)
    await store.upsert_order(order)
    # given r-1 sent and refused (FAILED) ...
    token = await store.record_delivery(ref, due("r-1"), {}, {"body": {}}, claim("A"))
    assert token is not None and await store.begin_send(ref, "r-1", "A", token, at(30)) is not None
    refused = Delivery(state=DeliveryState.FAILED, attempts=1, sends=1, updated_at=at(0.5))
    await store.finish_attempt(ref, "r-1", refused, None, "A", token)
    # ... a retry of r-1 that checked "newest" just before r-2 was recorded, then made r-1 due again
    await store.record_delivery(ref, due("r-2", at=1), {}, {"body": {}}, None)
    again = Delivery(state=DeliveryState.PENDING, attempts=1, sends=1, updated_at=at(2), next_attempt_at=at(2))
    assert await store.set_delivery("r-1", again, RETRIABLE_NOW, at(2))
    # when the deliverer claims what is due, pass after pass
    handed = await _claim_passes(store, ref, start=3)
    # then only the newest was sent; the older one is SUPERSEDED, never sent after it
    assert handed == ["r-2"]
    assert await state_of(store, "r-1") is DeliveryState.SUPERSEDED


async def test_an_unconfirmed_older_result_is_superseded_when_the_newest_is_claimed(store: SqlStore) -> None:  # noqa: F811
    order = make_order("o-1")
    ref = ref_of(order)
    await store.upsert_order(order)
    await store.record_delivery(ref, due("r-1"), {}, {"body": {}}, None)
    await store.record_delivery(ref, due("r-2", at=1), {}, {"body": {}}, None)
    # given the state a write skew leaves (PostgreSQL test below): r-1 UNCONFIRMED and due at the end
    # of its quarantine, r-2 due before it
    unseen = Delivery(state=DeliveryState.UNCONFIRMED, attempts=1, sends=1, updated_at=at(2), next_attempt_at=at(7))
    assert await store.set_delivery("r-1", unseen, (DeliveryState.SUPERSEDED,), at(2))
    # when r-2 is claimed and delivered, and the deliverer goes on claiming after r-1's quarantine
    [newest] = await store.claim_due(claim("B", at=3), {"conn-a": 5}, 5)
    assert newest.result.id == "r-2"
    # then r-1 is already SUPERSEDED (in the claim's transaction), and never handed out
    assert await state_of(store, "r-1") is DeliveryState.SUPERSEDED
    await deliver(store, ref, "r-2", "B", newest.token, 3)
    assert await store.claim_due(claim("B", at=8), {"conn-a": 5}, 5) == []


async def test_a_claimed_result_is_not_sent_once_a_newer_one_is_recorded(store: SqlStore) -> None:  # noqa: F811
    order = make_order("o-1")
    ref = ref_of(order)
    await store.upsert_order(order)
    await store.record_delivery(ref, due("r-1"), {}, {"body": {}}, None)
    # given r-1 claimed by A, and r-2 recorded meanwhile (queued behind A's lease)
    [mine] = await store.claim_due(claim("A", at=1), {"conn-a": 5}, 5)
    assert mine.token is not None
    assert await store.record_delivery(ref, due("r-2", at=2), {}, {"body": {}}, claim("C", at=2)) is None
    # when A is about to send r-1
    sent = await store.begin_send(ref, "r-1", "A", mine.token, at(40))
    # then nothing is sent or counted: r-1 is SUPERSEDED and the lease is free for r-2 at once
    assert sent is not None and sent.state is DeliveryState.SUPERSEDED and sent.sends == 0
    assert [r.result.id for r in await store.claim_due(claim("B", at=3), {"conn-a": 5}, 5)] == ["r-2"]


@pytest.mark.postgres
async def test_a_write_skew_between_recording_and_finishing_leaves_nothing_older_to_send(store: SqlStore) -> None:  # noqa: F811
    """The race behind "[r1, r2, r1]": r-2's transaction does not see r-1 as waiting (it is claimed),
    r-1's unconfirmed finish does not see r-2 (not committed yet), so both stay due."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("READ COMMITTED interleaving of two transactions: PostgreSQL only")
    order = make_order("o-1")
    ref = ref_of(order)
    await store.upsert_order(order)
    # given r-1 sent under a claim without a fencing token (its finish takes no lease lock first)
    await store.record_delivery(ref, due("r-1"), {}, {"body": {}}, None)
    [mine] = await store.claim_due(claim("A"), {"conn-a": 1}, 1)
    assert mine.token is not None
    assert await store.begin_send(ref, "r-1", "A", mine.token, at(30)) is not None
    url = make_url(store.engine.url.render_as_string(hide_password=False)).set(drivername="postgresql")
    blocker = await asyncpg.connect(url.render_as_string(hide_password=False))
    watcher = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        # a third transaction holds the order's lease row: r-2's recording stops at its lease, after
        # it inserted r-2 and looked for waiting results (r-1 is claimed: not superseded)
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("SELECT 1 FROM delivery_leases WHERE order_id = $1 FOR UPDATE", ref.encode())
        recording = asyncio.create_task(store.record_delivery(ref, due("r-2", at=1), {}, {"body": {}}, claim("C", at=1)))
        await _until_waiting(watcher, 1)
        # r-1's outcome is unseen: its finish does not see r-2 (uncommitted) and stops at the lease
        unseen = Delivery(state=DeliveryState.UNCONFIRMED, attempts=1, sends=1, updated_at=at(2), next_attempt_at=at(7))
        finishing = asyncio.create_task(
            store.finish_attempt(ref, "r-1", unseen, None, "A", None, quarantine_until=at(7))
        )
        await _until_waiting(watcher, 2)
        await tx.rollback()
        assert await recording is None
        await finishing
    finally:
        await blocker.close()
        await watcher.close()
    # when the deliverer claims, pass after pass, after r-1's quarantine
    handed = await _claim_passes(store, ref, start=8)
    # then only r-2 was sent; r-1 is SUPERSEDED
    assert handed == ["r-2"]
    assert await state_of(store, "r-1") is DeliveryState.SUPERSEDED


async def _claim_passes(store: SqlStore, ref: OrderRef, start: float, passes: int = 3) -> list[str]:  # noqa: F811
    """The deliverer's passes, one a second from `start`: what each claimed, delivered at once."""
    handed: list[str] = []
    for n in range(passes):
        for record in await store.claim_due(claim("B", at=start + n), {"conn-a": 5}, 5):
            handed.append(record.result.id)
            await deliver(store, ref, record.result.id, "B", record.token, start + n)
    return handed


async def _until_waiting(conn: asyncpg.Connection, count: int) -> None:
    """Until `count` sessions wait for a lock (a condition, not a sleep: bounded by a timeout). `conn`
    is outside any transaction, so every look is a fresh snapshot of the activity."""
    async with asyncio.timeout(10):
        while True:
            waiting = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if waiting >= count:
                return
            await asyncio.sleep(0.01)
