"""Fenced order leases on SQLite and PostgreSQL: a token per claim, a request-out flag, renewal,
quarantine after a lease expired with a request out, and a stale holder's outcome ignored."""

from __future__ import annotations

from datetime import timedelta

from providers.models import Delivery, DeliveryState
from store import SqlStore
from store.interface import DeliveryClaim
from tests.store.conftest import store, store_url  # noqa: F401  (fixtures)
from tests.store.store_samples import T0, make_order, make_result, ref_of

QUARANTINE = 60.0


def claim(holder: str, at: float = 0, lease: float = 30) -> DeliveryClaim:
    now = T0 + timedelta(seconds=at)
    return DeliveryClaim(holder=holder, now=now, lease_until=now + timedelta(seconds=lease), quarantine_seconds=QUARANTINE)


def due(result_id: str):  # type: ignore[no-untyped-def]
    delivery = Delivery(state=DeliveryState.PENDING, updated_at=T0, next_attempt_at=T0)
    return make_result(result_id).model_copy(update={"delivery": delivery})


def at(seconds: float):  # type: ignore[no-untyped-def]
    return T0 + timedelta(seconds=seconds)


async def _recorded(store: SqlStore, order_id: str, result_id: str) -> None:  # noqa: F811
    order = make_order(order_id)
    await store.upsert_order(order)
    await store.record_delivery(ref_of(order), due(result_id), {}, {"body": {}}, None)


async def test_every_claim_of_an_order_gets_a_larger_token(store: SqlStore) -> None:  # noqa: F811
    await _recorded(store, "o-1", "r-1")
    ref = ref_of(make_order("o-1"))
    tokens = []
    for n in range(3):
        # given the order claimed, then its lease given back without sending
        [record] = await store.claim_due(claim(f"H{n}", at=n), {"conn-a": 1}, 1)
        assert record.token is not None
        tokens.append(record.token)
        await store.finish_attempt(ref, "r-1", record.result.delivery, None, f"H{n}", record.token)
    # then each claim's fencing token is larger than the one before
    assert tokens == sorted(tokens) and len(set(tokens)) == 3


async def test_a_lease_that_expires_with_a_request_out_quarantines_the_order(store: SqlStore) -> None:  # noqa: F811
    await _recorded(store, "o-1", "r-1")
    ref = ref_of(make_order("o-1"))
    # given A claimed the order and its request left (then A stalled or crashed: no outcome, no renewal)
    [mine] = await store.claim_due(claim("A", lease=10), {"conn-a": 1}, 1)
    assert mine.token is not None
    sent = await store.begin_send(ref, "r-1", "A", mine.token, at(10))
    assert sent is not None and sent.sends == 1
    # when B looks for due work after A's lease expired
    assert await store.claim_due(claim("B", at=11), {"conn-a": 1}, 1) == []
    # then B did not take it: the result is UNCONFIRMED and fenced for the quarantine
    record = await store.get_delivery("r-1", at(11))
    assert record is not None
    delivery = record.result.delivery
    assert (delivery.state, delivery.sends, delivery.next_attempt_at) == (DeliveryState.UNCONFIRMED, 1, at(11 + QUARANTINE))
    assert await store.claim_due(claim("B", at=11 + QUARANTINE - 1), {"conn-a": 1}, 1) == []
    # and A, waking up, can neither send again nor store its outcome
    assert await store.begin_send(ref, "r-1", "A", mine.token, at(80)) is None
    delivered = Delivery(state=DeliveryState.DELIVERED, attempts=1, sends=1, updated_at=at(12))
    stored = await store.finish_attempt(ref, "r-1", delivered, None, "A", mine.token)
    assert stored.state is DeliveryState.UNCONFIRMED
    # once the quarantine is over B takes it, with a larger token
    [theirs] = await store.claim_due(claim("B", at=11 + QUARANTINE), {"conn-a": 1}, 1)
    assert theirs.result.id == "r-1" and theirs.token is not None and theirs.token > mine.token
    assert theirs.result.delivery.state is DeliveryState.UNCONFIRMED


async def test_a_stale_holders_outcome_is_ignored(store: SqlStore) -> None:  # noqa: F811
    await _recorded(store, "o-1", "r-1")
    ref = ref_of(make_order("o-1"))
    # given A claimed the order but never sent; its lease expired and B claimed and delivered
    [a] = await store.claim_due(claim("A", lease=10), {"conn-a": 1}, 1)
    [b] = await store.claim_due(claim("B", at=11), {"conn-a": 1}, 1)
    assert a.token is not None and b.token is not None and b.token > a.token
    assert await store.begin_send(ref, "r-1", "A", a.token, at(12)) is None  # A may not send any more
    assert await store.begin_send(ref, "r-1", "B", b.token, at(40)) is not None
    done = Delivery(state=DeliveryState.DELIVERED, attempts=1, sends=1, updated_at=at(13))
    await store.finish_attempt(ref, "r-1", done, None, "B", b.token)
    # when A reports a failure late
    late = Delivery(state=DeliveryState.RETRYING, attempts=1, updated_at=at(14), next_attempt_at=at(15))
    stored = await store.finish_attempt(ref, "r-1", late, None, "A", a.token)
    # then it is ignored: the result stays DELIVERED and is not sent again
    assert stored.state is DeliveryState.DELIVERED
    assert await store.claim_due(claim("C", at=20), {"conn-a": 1}, 1) == []


async def test_renewal_keeps_the_lease_while_the_call_runs(store: SqlStore) -> None:  # noqa: F811
    await _recorded(store, "o-1", "r-1")
    ref = ref_of(make_order("o-1"))
    [mine] = await store.claim_due(claim("A", lease=10), {"conn-a": 1}, 1)
    assert mine.token is not None
    assert await store.begin_send(ref, "r-1", "A", mine.token, at(10)) is not None
    # when A renews before expiry, to 30 s
    assert await store.renew_lease(ref, "A", mine.token, at(30))
    # then at 20 s nobody may take or quarantine it, and the result is still PENDING
    assert await store.claim_due(claim("B", at=20), {"conn-a": 1}, 1) == []
    record = await store.get_delivery("r-1", at(20))
    assert record is not None and record.result.delivery.state is DeliveryState.PENDING
    # and a holder with another token cannot renew it
    assert not await store.renew_lease(ref, "A", mine.token + 1, at(60))


async def test_shutdown_keeps_leases_with_a_request_out(store: SqlStore) -> None:  # noqa: F811
    await _recorded(store, "o-1", "r-1")
    await _recorded(store, "o-2", "r-2")
    one = ref_of(make_order("o-1"))
    taken = {r.result.id: r for r in await store.claim_due(claim("A", lease=10), {"conn-a": 2}, 2)}
    token = taken["r-1"].token
    assert token is not None and set(taken) == {"r-1", "r-2"}
    # given a request out for o-1 only
    assert await store.begin_send(one, "r-1", "A", token, at(10)) is not None
    # when A shuts down and gives back what it holds
    assert await store.release_claims("A") == 1
    # then o-2 is free at once; o-1 is not, and once its lease expires it is quarantined, not handed over
    assert [r.result.id for r in await store.claim_due(claim("B", at=1), {"conn-a": 2}, 2)] == ["r-2"]
    assert await store.claim_due(claim("C", at=11), {"conn-a": 2}, 2) == []
    record = await store.get_delivery("r-1", at(11))
    assert record is not None and record.result.delivery.state is DeliveryState.UNCONFIRMED
