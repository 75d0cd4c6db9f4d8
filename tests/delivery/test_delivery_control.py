"""Retry now, cancel, idempotency (input key and `Idempotency-Key` header), one write per order in
flight, the circuit breaker and the in-flight cap, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from app import Services
from providers.errors import ErrorCode
from providers.models import DeliveryState, OrderRef
from sandbox import Sandboxes, create_sandbox_app
from server.deliverer import Deliverer
from tests.conftest import GraphQLClient
from tests.delivery.conftest import FAST, ManualClock, delivery_state, eventually, later, passes
from tests.delivery.test_delivery_faults import WRITE, result_input
from tests.test_graphql_results import find_order, refuse_kombo_key, swap_adapter

RETRY = "mutation($id: ID!) { retryDelivery(resultId: $id) { result { id } delivery { state attempts errorCode } } }"
CANCEL = "mutation($id: ID!) { cancelDelivery(resultId: $id) { order { id } delivery { state } } }"


def code_of(body: dict[str, Any]) -> str:
    return str(body["errors"][0]["extensions"]["code"])


async def test_a_refused_write_is_failed_then_retried_by_hand(
    dgql: GraphQLClient, dservices: Services, sandboxes: Sandboxes, deliverer: Deliverer
) -> None:
    # given the Kombo connection with a key the sandbox refuses (a permanent failure)
    good = dservices.context.connections["sandbox-kombo"]
    refuse_kombo_key(dservices, sandboxes)
    order = await find_order(dgql, "KOMBO")
    body = await dgql(WRITE, {"input": result_input(order["id"], "by hand")})
    assert code_of(body) == ErrorCode.PROVIDER_AUTH_FAILED
    ref = OrderRef.parse(order["id"])
    result = (await dservices.store.latest_results([ref]))[ref]
    # then it is FAILED and stays so: the deliverer does not retry it, an hour later and several passes on
    later(dservices, 3600)
    await passes(deliverer)
    assert await delivery_state(dservices, order["id"]) is DeliveryState.FAILED
    assert sum(r.method == "PUT" for r in sandboxes.kombo.received) == 1
    # when the credentials are fixed and the delivery is retried now
    swap_adapter(dservices, good, httpx.ASGITransport(app=create_sandbox_app(sandboxes)))
    retried = (await dgql(RETRY, {"id": result.id}))["data"]["retryDelivery"]
    assert retried["delivery"] == {"state": "DELIVERED", "attempts": 2, "errorCode": None}
    assert sandboxes.kombo.results[order["providerOrderId"]]["status"] == "COMPLETED"
    # and a delivered result cannot be retried or cancelled
    assert code_of(await dgql(RETRY, {"id": result.id})) == ErrorCode.CONFLICT
    assert code_of(await dgql(CANCEL, {"id": result.id})) == ErrorCode.CONFLICT
    assert code_of(await dgql(RETRY, {"id": "no-such-result"})) == ErrorCode.NOT_FOUND


async def test_cancel_a_retrying_delivery(
    dgql: GraphQLClient, dservices: Services, sandboxes: Sandboxes, control: httpx.AsyncClient, deliverer: Deliverer
) -> None:
    order = await find_order(dgql, "STACKONE")
    await control.post("/stackone/_sandbox/faults", json={"rate_429": 1, "retry_after": 30})
    written = (await dgql(WRITE, {"input": result_input(order["id"], "never")}))["data"]["updateAssessmentResult"]
    assert written["delivery"]["state"] == "RETRYING"
    # when it is cancelled
    cancelled = (await dgql(CANCEL, {"id": written["result"]["id"]}))["data"]["cancelDelivery"]
    assert cancelled == {"order": {"id": order["id"]}, "delivery": {"state": "CANCELLED"}}
    # then it is never sent, even once the provider is back and the retry time (30 s) has passed
    await control.delete("/stackone/_sandbox/faults")
    later(dservices, 60)
    await passes(deliverer)
    assert (await control.get("/stackone/_sandbox/faults")).json()["applied"] == {}
    assert await delivery_state(dservices, order["id"]) is DeliveryState.CANCELLED
    assert code_of(await dgql(CANCEL, {"id": written["result"]["id"]})) == ErrorCode.CONFLICT
    assert code_of(await dgql(RETRY, {"id": written["result"]["id"]})) == ErrorCode.CONFLICT


async def test_idempotency_key_header(dgql: GraphQLClient, sandboxes: Sandboxes) -> None:
    order = await find_order(dgql, "UNIFIED_TO")
    send = dgql.http.post
    payload = {"query": WRITE, "variables": {"input": result_input(order["id"], "once")}}
    first = (await send("/graphql", json=payload, headers={"Idempotency-Key": "h-1"})).json()
    writes = len(sandboxes.unified_to.received)
    # the same key and input: the first result, no second write
    again = (await send("/graphql", json=payload, headers={"Idempotency-Key": "h-1"})).json()
    first_id = first["data"]["updateAssessmentResult"]["result"]["id"]
    assert again["data"]["updateAssessmentResult"]["result"]["id"] == first_id
    assert len(sandboxes.unified_to.received) == writes
    # the same key in the input instead of the header is the same request
    keyed = {"query": WRITE, "variables": {"input": {**result_input(order["id"], "once"), "idempotencyKey": "h-1"}}}
    assert (await send("/graphql", json=keyed)).json()["data"]["updateAssessmentResult"]["result"]["id"] == first_id
    # another input under the key: CONFLICT; header and input keys that differ: BAD_USER_INPUT
    other = {"query": WRITE, "variables": {"input": result_input(order["id"], "twice")}}
    assert code_of((await send("/graphql", json=other, headers={"Idempotency-Key": "h-1"})).json()) == "CONFLICT"
    mixed = (await send("/graphql", json=keyed, headers={"Idempotency-Key": "h-2"})).json()
    assert code_of(mixed) == "BAD_USER_INPUT"


async def test_concurrent_repeats_of_one_key_write_once(dgql: GraphQLClient, sandboxes: Sandboxes) -> None:
    order = await find_order(dgql, "STACKONE")
    payload = {"query": WRITE, "variables": {"input": {**result_input(order["id"], "x"), "idempotencyKey": "k"}}}
    bodies = await asyncio.gather(*(dgql.http.post("/graphql", json=payload) for _ in range(8)))
    ids = {b.json()["data"]["updateAssessmentResult"]["result"]["id"] for b in bodies}
    assert len(ids) == 1
    assert sandboxes.stackone.faults.applied == {order["providerOrderId"]: 1}


async def test_never_two_writes_for_one_order_in_flight(
    dgql: GraphQLClient, dservices: Services, control: httpx.AsyncClient
) -> None:
    # given a slow provider failing a third of the writes
    order = await find_order(dgql, "STACKONE")
    await control.post("/stackone/_sandbox/faults", json={"latency_ms": [20, 40], "rate_500": 0.33, "seed": 7})
    # when ten results for one order are written at once
    inputs = [result_input(order["id"], f"v{i}") for i in range(10)]
    await asyncio.gather(*(dgql(WRITE, {"input": i}) for i in inputs))
    # then every write settles, the sandbox never saw two writes for the order at once,
    # and the newest result recorded is what the provider holds
    ref = OrderRef.parse(order["id"])
    await control.delete("/stackone/_sandbox/faults")

    async def settled() -> bool:
        return await delivery_state(dservices, order["id"]) is DeliveryState.DELIVERED

    await eventually(settled)
    faults = (await control.get("/stackone/_sandbox/faults")).json()
    assert faults["overlaps"] == [] and faults["max_in_flight"] == 1
    newest = (await dservices.store.latest_results([ref]))[ref]
    box_summary = (await control.get("/stackone/_sandbox/requests")).json()
    applied = [r for r in box_summary if r["method"] == "PATCH" and r["status"] == 200]
    assert applied[-1]["body"]["summary"] == newest.update.summary


async def test_breaker_opens_queues_and_recovers(
    dgql: GraphQLClient, dservices: Services, sandboxes: Sandboxes, control: httpx.AsyncClient, deliverer: Deliverer
) -> None:
    # given StackOne failing everything, and the breaker's clock moved only by the test
    clock = ManualClock()
    guard = dservices.context.dispatch.guard(dservices.context.connections["sandbox-stackone"])
    guard.clock = clock
    await control.post("/stackone/_sandbox/faults", json={"rate_500": 1})
    orders = (await dgql(
        '{ assessmentOrders(first: 10, filter: {providers: [STACKONE]}) { edges { node { id } } } }'
    ))["data"]["assessmentOrders"]["edges"]  # fmt: skip
    ids = [e["node"]["id"] for e in orders][:5]
    payloads = []
    for order_id in ids:
        payloads.append((await dgql(WRITE, {"input": result_input(order_id, "b")}))["data"]["updateAssessmentResult"])
    # then after three failures in a row the breaker opens: later writes are queued, not sent
    queued = [p for p in payloads if p["delivery"]["state"] == "PENDING"]
    assert queued and all(p["delivery"]["attempts"] == 0 for p in queued)
    assert all("queued" in p["delivery"]["errorMessage"] for p in queued)
    assert guard.failures >= 3
    # ... and while the cool-down has not passed, nothing is sent, however many passes the deliverer makes
    sent = len(sandboxes.stackone.received)
    later(dservices, 60)  # every retry is due
    await passes(deliverer)
    assert len(sandboxes.stackone.received) == sent
    # when StackOne recovers and the cool-down passes, the probe closes the breaker and every result
    # is delivered once
    await control.delete("/stackone/_sandbox/faults")
    clock.advance(FAST.breaker_cooldown_seconds)

    async def all_delivered() -> bool:
        return all([await delivery_state(dservices, i) is DeliveryState.DELIVERED for i in ids])

    await eventually(all_delivered)
    assert sorted(sandboxes.stackone.faults.applied.values()) == [1] * len(ids)


async def test_in_flight_cap_keeps_below_the_provider_limit(
    dgql: GraphQLClient, dservices: Services, sandboxes: Sandboxes, control: httpx.AsyncClient
) -> None:
    # given a provider refusing more than 2 concurrent writes (Kombo-style), and our cap at 2
    conn = dservices.context.connections["sandbox-stackone"].model_copy(update={"max_in_flight": 2})
    dservices.context.dispatch.guards.pop(conn.id, None)
    swap_adapter(dservices, conn, httpx.ASGITransport(app=create_sandbox_app(sandboxes)))
    await control.post("/stackone/_sandbox/faults", json={"concurrency_limit": 2, "latency_ms": [50, 50]})
    edges = (await dgql(
        '{ assessmentOrders(first: 20, filter: {providers: [STACKONE]}) { edges { node { id } } } }'
    ))["data"]["assessmentOrders"]["edges"]  # fmt: skip
    ids = [e["node"]["id"] for e in edges]
    assert len(ids) >= 4
    # when results for all of them are written at once
    await asyncio.gather(*(dgql(WRITE, {"input": result_input(i, "capped")}) for i in ids))

    async def all_delivered() -> bool:
        return all([await delivery_state(dservices, i) is DeliveryState.DELIVERED for i in ids])

    # then all are delivered, never more than 2 at once, and the provider never refused one
    await eventually(all_delivered)
    faults = (await control.get("/stackone/_sandbox/faults")).json()
    assert faults["max_in_flight"] <= 2 and "concurrency" not in faults["injected"]



async def test_graceful_shutdown_keeps_what_it_cut_off_mid_call_quarantined(
    dgql: GraphQLClient, dservices: Services, control: httpx.AsyncClient
) -> None:
    from datetime import timedelta

    from resolvers.dispatch import Dispatch
    from server.deliverer import drain
    from store.interface import DeliveryClaim

    # given a write in flight on a provider that hangs (longer than the mutation waits)
    order = await find_order(dgql, "UNIFIED_TO")
    await control.post("/unified_to/_sandbox/faults", json={"rate_timeout": 1, "hang_seconds": 30})
    dservices.context.dispatch = Dispatch(
        policy=dservices.context.dispatch.policy.model_copy(update={"mutation_deadline_seconds": 0.2,
                                                                    "shutdown_grace_seconds": 0.1}),
        instance_id=dservices.context.dispatch.instance_id,
    )  # fmt: skip
    written = (await dgql(WRITE, {"input": result_input(order["id"], "handed over")}))["data"]["updateAssessmentResult"]
    assert written["delivery"]["state"] == "PENDING"
    held = await dservices.store.get_delivery(written["result"]["id"], dservices.context.clock())
    assert held is not None and held.claimed_by == dservices.context.dispatch.instance_id

    async def at_the_provider() -> bool:  # the request is out (a busy machine may take longer than the deadline)
        return bool((await control.get("/unified_to/_sandbox/faults")).json()["injected"].get("timeout"))

    await eventually(at_the_provider)
    # when the instance shuts down (the grace period ends before the call does); its deliverer is
    # kept off the connection so only "another" instance could take the write
    dservices.context.dispatch.guard(dservices.context.connections["sandbox-unified-to"]).paused_until = 1e12
    await drain(dservices.context)
    # then the write that was cut off mid-call is UNCONFIRMED (it may be with the provider), with its send
    # counted, and the order is not handed over: another instance cannot take it during the quarantine
    held = await dservices.store.get_delivery(written["result"]["id"], dservices.context.clock())
    assert held is not None and held.claimed_by is None
    assert (held.result.delivery.state, held.result.delivery.sends) == (DeliveryState.UNCONFIRMED, 1)
    now = dservices.context.clock()
    other = DeliveryClaim(holder="another", now=now, lease_until=now + timedelta(seconds=30))
    assert await dservices.store.claim_due(other, {"sandbox-unified-to": 1}, 1) == []
    # and once the quarantine is over it can
    later = held.result.delivery.next_attempt_at
    assert later is not None and later > now
    after = DeliveryClaim(holder="another", now=later, lease_until=later + timedelta(seconds=30))
    taken = await dservices.store.claim_due(after, {"sandbox-unified-to": 1}, 1)
    assert [r.result.id for r in taken] == [written["result"]["id"]]


async def test_deliveries_list_only_the_callers_connections(dgql: GraphQLClient, dservices: Services) -> None:
    from resolvers.delivery import list_deliveries

    for provider in ("STACKONE", "UNIFIED_TO"):
        order = await find_order(dgql, provider)
        await dgql(WRITE, {"input": result_input(order["id"], "mine")})
    ctx = dservices.context
    everything = await list_deliveries(ctx, (), (), first=50, after=None)
    assert {r.ref.connection_id for r in everything.records} == {"sandbox-stackone", "sandbox-unified-to"}
    tenant = ctx.for_connections(frozenset({"sandbox-stackone"}))
    mine = await list_deliveries(tenant, (), (), first=50, after=None)
    assert {r.ref.connection_id for r in mine.records} == {"sandbox-stackone"} and mine.total_count == 1
    asked = await list_deliveries(tenant, (DeliveryState.DELIVERED,), ("sandbox-unified-to",), first=50, after=None)
    assert asked.total_count == 0 and asked.records == []
