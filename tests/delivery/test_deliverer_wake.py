"""When the background deliverer is woken, on SQLite and PostgreSQL: a result left waiting (its
order's lease held by an attempt in flight, or no slot free on the connection) is sent as soon as
the attempt that held it ends; on SQLite (one instance) an attempt that nothing waits for wakes
nobody (no pass, no read of the store per mutation). The poll interval here is 30 s: only a wake can
send anything in time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app import Services, build_services, create_app
from providers.models import DeliveryState, OrderRef
from sandbox import Sandboxes
from server.deliverer import Deliverer
from server.settings import sandbox_settings
from tests.conftest import GraphQLClient
from tests.delivery.conftest import FAST, delivery_state, eventually
from tests.delivery.test_delivery_faults import WRITE, result_input
from tests.store.conftest import store_url  # noqa: F401  (the SQLite / PostgreSQL parametrisation)
from tests.test_graphql_results import find_order

NO_POLL = FAST.model_copy(update={"poll_interval_seconds": 30})


@pytest.fixture(params=[None, 1], ids=["default cap", "one in flight"])
async def woken(store_url: str, sandboxes: Sandboxes, request: pytest.FixtureRequest) -> AsyncIterator[tuple[Services, Deliverer]]:  # noqa: F811
    settings = sandbox_settings(store_url)
    connections = tuple(c.model_copy(update={"max_in_flight": request.param}) for c in settings.connections)
    built = await build_services(settings.model_copy(update={"delivery": NO_POLL, "connections": connections}),
                                 sandboxes=sandboxes)  # fmt: skip
    deliverer = Deliverer(built.context)
    await deliverer.start()
    try:
        yield built, deliverer
    finally:
        await deliverer.stop()
        await built.aclose()


@pytest.fixture
async def gql(woken: tuple[Services, Deliverer]) -> AsyncIterator[GraphQLClient]:
    transport = httpx.ASGITransport(app=create_app(woken[0]))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
        yield GraphQLClient(http)


async def _write(gql: GraphQLClient, order_id: str, summary: str) -> dict[str, Any]:
    body = await gql(WRITE, {"input": result_input(order_id, summary)})
    assert "errors" not in body, body
    return body["data"]["updateAssessmentResult"]["delivery"]  # type: ignore[no-any-return]


async def test_a_result_left_waiting_is_sent_as_soon_as_the_attempt_holding_it_ends(
    woken: tuple[Services, Deliverer], gql: GraphQLClient, sandboxes: Sandboxes
) -> None:
    services, _ = woken
    first, second = await _two_stackone_orders(gql)
    one_in_flight = services.context.connections[OrderRef.parse(first).connection_id].max_in_flight == 1
    # given a write whose provider call is slow: in flight while the next result arrives, and longer
    # than that result waits for a slot (half the mutation deadline)
    sandboxes.stackone.faults.configure({"latency_ms": [2000, 2000]})
    slow = asyncio.ensure_future(_write(gql, first, "slow"))
    guard = next(iter(services.context.dispatch.guards.values()), None)
    await eventually(_sending(services))
    sandboxes.stackone.faults.configure({})
    # when another result is written, for the same order (its lease is held) or, with one write
    # allowed in flight, for another order (no slot): it is queued, not sent in the call
    queued = await _write(gql, second if one_in_flight else first, "next")
    assert queued["state"] == "PENDING" and queued["attempts"] == 0, queued
    # then it is delivered once the slow attempt ends, long before the 30 s poll would find it
    assert (await slow)["state"] == "DELIVERED"
    waiting = second if one_in_flight else first
    await eventually(lambda: _is(services, waiting, DeliveryState.DELIVERED), timeout=10)
    assert guard is None or guard.in_flight == 0


async def test_an_attempt_that_nothing_waits_for_wakes_no_pass(
    woken: tuple[Services, Deliverer], gql: GraphQLClient
) -> None:
    services, deliverer = woken
    first, second = await _two_stackone_orders(gql)
    await eventually(_passed(deliverer))  # (the pass at start)
    before = deliverer.passes
    # when results are written and delivered in the call, one after another
    for n, order_id in enumerate((first, second, first)):
        assert (await _write(gql, order_id, f"r-{n}"))["state"] == "DELIVERED"
    # then on SQLite (one instance) the deliverer was not woken for them: nothing waited. On PostgreSQL
    # another instance may have queued a result behind these leases: each attempt that ends wakes it.
    dispatch = services.context.dispatch
    assert not dispatch.waiting
    if dispatch.shared:
        assert deliverer.passes > before
    else:
        assert deliverer.passes == before


async def _two_stackone_orders(gql: GraphQLClient) -> tuple[str, str]:
    body = await gql("{ assessmentOrders(filter: {providers: [STACKONE], statuses: [OPEN]}, first: 2) { edges { node { id } } } }")
    edges = body["data"]["assessmentOrders"]["edges"]
    assert len(edges) == 2, body
    first = await find_order(gql, "STACKONE")
    return first["id"], next(e["node"]["id"] for e in edges if e["node"]["id"] != first["id"])


def _sending(services: Services):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return any(guard.sending for guard in services.context.dispatch.guards.values())

    return check


def _passed(deliverer: Deliverer):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return deliverer.passes >= 1

    return check


async def _is(services: Services, order_id: str, state: DeliveryState) -> bool:
    return await delivery_state(services, order_id) is state
