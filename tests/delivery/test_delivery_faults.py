"""Every sandbox fault on the mutation path, on SQLite and PostgreSQL: the payload says what
happened, and once the fault clears the result is delivered exactly once (the sandbox's record)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app import Services
from providers.errors import ErrorCode
from providers.models import DeliveryState
from sandbox import Sandboxes
from tests.conftest import GraphQLClient
from tests.delivery.conftest import ManualClock, delivery_state, eventually
from tests.test_graphql_results import find_order

WRITE = """
mutation($input: UpdateAssessmentResultInput!) {
  updateAssessmentResult(input: $input) {
    result { id }
    delivery { state attempts errorCode errorMessage providerStatusCode nextAttemptAt }
  }
}
"""
LIST = """
query($states: [DeliveryState!]) {
  deliveries(filter: {states: $states}) { totalCount edges { node { result { id } order { id } delivery { state } } } }
}
"""
SLUG = {"STACKONE": "stackone", "KOMBO": "kombo", "UNIFIED_TO": "unified_to"}

# fault switches -> what the first attempt's payload says
FAULTS = [
    ("429", "KOMBO", {"rate_429": 1, "retry_after": 0.2}, ErrorCode.PROVIDER_RATE_LIMITED, 429),
    ("Kombo concurrency limit", "KOMBO", {"rate_429": 1, "retry_after": 0.2, "code_429": "PLATFORM.CONCURRENCY_LIMIT_EXCEEDED"},
     ErrorCode.PROVIDER_RATE_LIMITED, 429),
    ("StackOne 408 with Retry-After", "STACKONE", {"rate_408": 1, "retry_after": 0.2}, ErrorCode.PROVIDER_RATE_LIMITED, 408),
    ("500", "STACKONE", {"rate_500": 1}, ErrorCode.PROVIDER_UNAVAILABLE, 500),
    ("503", "UNIFIED_TO", {"rate_503": 1}, ErrorCode.PROVIDER_UNAVAILABLE, 503),
    ("timeout", "STACKONE", {"rate_timeout": 1, "hang_seconds": 5}, ErrorCode.PROVIDER_UNAVAILABLE, None),
    ("malformed body", "KOMBO", {"rate_malformed": 1}, ErrorCode.PROVIDER_BAD_RESPONSE, None),
    ("dropped connection", "UNIFIED_TO", {"rate_drop": 1}, ErrorCode.PROVIDER_UNAVAILABLE, None),
    ("down for 1 s", "STACKONE", {"down_for_seconds": 1}, ErrorCode.PROVIDER_UNAVAILABLE, 503),
]
# The request may have reached the provider: the outcome is unknown, the order is quarantined.
AMBIGUOUS = {"timeout", "dropped connection"}


def result_input(order_id: str, summary: str) -> dict[str, Any]:
    return {"orderId": order_id, "status": "COMPLETED", "score": {"value": 7, "max": 10}, "summary": summary,
            "resultUrl": "https://v.example/r/7", "completedAt": "2026-11-01T10:00:00Z"}  # fmt: skip


def holds(sandboxes: Sandboxes, provider: str, native_id: str, summary: str) -> bool:
    """The provider's final state carries the result."""
    if provider == "STACKONE":
        return sandboxes.stackone.results.get(native_id, {}).get("summary") == summary
    if provider == "KOMBO":
        attributes = sandboxes.kombo.results.get(native_id, {}).get("attributes", [])
        return any(a.get("value") == summary for a in attributes)
    details = sandboxes.unified_to.orders[native_id].get("response_details") or []
    return any(d.get("text") == summary for d in details)


@pytest.mark.parametrize(("_case", "provider", "switches", "code", "status"), FAULTS, ids=[f[0] for f in FAULTS])
async def test_fault_on_the_mutation_path_then_delivered_exactly_once(
    dgql: GraphQLClient, dservices: Services, sandboxes: Sandboxes, control: httpx.AsyncClient,
    _case: str, provider: str, switches: dict[str, Any], code: ErrorCode, status: int | None,
) -> None:  # fmt: skip
    order = await find_order(dgql, provider)
    slug = SLUG[provider]
    clock = ManualClock()  # the sandbox's outage window ends only when the test moves this clock
    sandboxes.for_provider(provider).faults.clock = clock
    # given the provider faulting every write
    assert (await control.post(f"/{slug}/_sandbox/faults", json=switches)).status_code == 200
    # when a result is written
    body = await dgql(WRITE, {"input": result_input(order["id"], f"kept-{_case}")})
    # then the payload says RETRYING (UNCONFIRMED when the request may have been applied), why, and
    # when it is tried again
    assert "errors" not in body, body
    payload = body["data"]["updateAssessmentResult"]
    delivery = payload["delivery"]
    state = "UNCONFIRMED" if _case in AMBIGUOUS else "RETRYING"
    assert (delivery["state"], delivery["attempts"], delivery["errorCode"]) == (state, 1, code)
    assert delivery["providerStatusCode"] == status and delivery["nextAttemptAt"]
    # ... and it is listed among the waiting deliveries
    listed = (await dgql(LIST, {"states": ["RETRYING", "PENDING", "UNCONFIRMED"]}))["data"]["deliveries"]
    assert payload["result"]["id"] in [e["node"]["result"]["id"] for e in listed["edges"]]
    # when the fault clears (an outage window by passing its end; the other faults are switched off)
    if "down_for_seconds" in switches:
        clock.advance(switches["down_for_seconds"])
    else:
        await control.delete(f"/{slug}/_sandbox/faults")
    # then the background deliverer delivers it, exactly once
    await eventually(lambda: _delivered(dservices, order["id"]))
    faults = (await control.get(f"/{slug}/_sandbox/faults")).json()
    assert faults["applied"] == {order["providerOrderId"]: 1}
    assert faults["overlaps"] == []
    assert holds(sandboxes, provider, order["providerOrderId"], f"kept-{_case}")


async def _delivered(services: Services, order_id: str) -> bool:
    return await delivery_state(services, order_id) is DeliveryState.DELIVERED
