"""Unconfirmed writes on SQLite and PostgreSQL: a write whose answer was lost is UNCONFIRMED, the
order is quarantined, then Kombo is read back (DELIVERED, reconciled, no second write) and StackOne
gets the newest result again (absolute state); `sends` counts every request that left."""

from __future__ import annotations

from typing import Any

import httpx

from app import Services
from providers.models import OrderRef
from sandbox import Sandboxes, create_sandbox_app
from tests.conftest import GraphQLClient
from tests.delivery.conftest import eventually
from tests.delivery.test_delivery_faults import result_input
from tests.test_graphql_results import find_order, swap_adapter

WRITE = """
mutation($input: UpdateAssessmentResultInput!) {
  updateAssessmentResult(input: $input) { result { id } delivery { state attempts sends reconciled errorCode nextAttemptAt } }
}
"""
DELIVERY = "query { deliveries { edges { node { result { id } delivery { state attempts sends reconciled } } } } }"


class AnswerLost(httpx.AsyncBaseTransport):
    """The provider applies the first `drops` writes, then the connection drops before the answer."""

    def __init__(self, inner: httpx.AsyncBaseTransport, drops: int = 1) -> None:
        self.inner, self.drops = inner, drops

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method in ("PUT", "PATCH") and self.drops > 0:
            self.drops -= 1
            await response.aread()
            raise httpx.RemoteProtocolError("Server disconnected without sending a complete response.", request=request)
        return response


def _lose_answers(services: Services, sandboxes: Sandboxes, connection_id: str) -> None:
    connection = services.context.connections[connection_id]
    swap_adapter(services, connection, AnswerLost(httpx.ASGITransport(app=create_sandbox_app(sandboxes))))


async def _delivery(gql: GraphQLClient, result_id: str) -> dict[str, Any]:
    edges = (await gql(DELIVERY))["data"]["deliveries"]["edges"]
    return next(e["node"]["delivery"] for e in edges if e["node"]["result"]["id"] == result_id)


def _writes(box: Any, native: str) -> int:
    return sum(1 for r in box.received if r.method in ("PUT", "PATCH") and native in r.path)


async def test_kombo_write_that_landed_is_reconciled_without_a_second_write(
    dgql: GraphQLClient, dservices: Services, sandboxes: Sandboxes
) -> None:
    order = await find_order(dgql, "KOMBO")
    native = order["providerOrderId"]
    _lose_answers(dservices, sandboxes, "sandbox-kombo")
    # when a result is written and Kombo applies it, but the answer is lost
    written = (await dgql(WRITE, {"input": result_input(order["id"], "landed")}))["data"]["updateAssessmentResult"]
    # then the outcome is unknown, said so, with the request counted and the order quarantined
    delivery = written["delivery"]
    assert (delivery["state"], delivery["attempts"], delivery["sends"]) == ("UNCONFIRMED", 1, 1)
    assert delivery["nextAttemptAt"]
    assert sandboxes.kombo.orders[native]["status"] == "COMPLETED"
    # and after the quarantine, reading Kombo back shows our status: DELIVERED, no second write
    result_id = written["result"]["id"]

    async def settled() -> dict[str, Any] | None:
        current = await _delivery(dgql, result_id)
        return current if current["state"] == "DELIVERED" else None

    final = await eventually(settled)
    assert final == {"state": "DELIVERED", "attempts": 2, "sends": 1, "reconciled": True}
    assert _writes(sandboxes.kombo, native) == 1
    reads = [r for r in sandboxes.kombo.received if r.method == "GET" and native in str(r.query.get("ids"))]
    assert reads, "Kombo was read back"


async def test_kombo_write_that_did_not_land_is_sent_again_after_the_quarantine(
    dgql: GraphQLClient, dservices: Services, sandboxes: Sandboxes, control: httpx.AsyncClient
) -> None:
    order = await find_order(dgql, "KOMBO")
    native = order["providerOrderId"]
    # given a write whose connection drops before Kombo applies it
    await control.post("/kombo/_sandbox/faults", json={"rate_drop": 1})
    written = (await dgql(WRITE, {"input": result_input(order["id"], "lost")}))["data"]["updateAssessmentResult"]
    assert written["delivery"]["state"] == "UNCONFIRMED"
    await control.delete("/kombo/_sandbox/faults")
    # then Kombo still shows it OPEN when read back, so it is sent again, once, and delivered
    result_id = written["result"]["id"]

    async def settled() -> dict[str, Any] | None:
        current = await _delivery(dgql, result_id)
        return current if current["state"] == "DELIVERED" else None

    final = await eventually(settled)
    assert (final["sends"], final["reconciled"]) == (2, False)
    assert sandboxes.kombo.faults.applied == {native: 1}
    assert sandboxes.kombo.faults.overlaps == []


async def test_stackone_unconfirmed_write_is_sent_again_absolute_state(
    dgql: GraphQLClient, dservices: Services, sandboxes: Sandboxes
) -> None:
    order = await find_order(dgql, "STACKONE")
    native = order["providerOrderId"]
    _lose_answers(dservices, sandboxes, "sandbox-stackone")
    written = (await dgql(WRITE, {"input": result_input(order["id"], "twice")}))["data"]["updateAssessmentResult"]
    assert written["delivery"]["state"] == "UNCONFIRMED"
    ref = OrderRef.parse(order["id"])
    quarantined_until = (await dservices.store.latest_results([ref]))[ref].delivery.next_attempt_at
    assert quarantined_until is not None
    # StackOne cannot be read back: after the quarantine the newest result is sent again (the same
    # absolute state), and the second application is visible as sends = 2
    result_id = written["result"]["id"]

    async def settled() -> dict[str, Any] | None:
        current = await _delivery(dgql, result_id)
        return current if current["state"] == "DELIVERED" else None

    final = await eventually(settled)
    assert (final["sends"], final["reconciled"]) == (2, False)
    assert _writes(sandboxes.stackone, native) == 2
    assert sandboxes.stackone.results[native]["summary"] == "twice"
