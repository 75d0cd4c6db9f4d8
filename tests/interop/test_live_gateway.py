"""Federation interop for live events: a subscription through Hive Gateway reaches the service (the
gateway subscribes to the subgraph over SSE) and each event is joined with the other subgraph's data."""

from __future__ import annotations

from typing import Any

import httpx

from tests.interop.test_gateways import (  # the same service, reviews subgraph and gateway start-up
    GATEWAYS,
    direct_orders,
    node,
    reviews_subgraph,
    service,
    start_node,
)
from tests.live.test_live_clients import Subscriber, events_of
from tests.processes import stop

__all__ = ["direct_orders", "node", "reviews_subgraph", "service"]

EVENTS_WITH_REVIEWS = """
subscription Live($after: String) {
  assessmentOrderEvents(after: $after, filter: {kinds: [RESULT_RECORDED]}) { kind cursor order { id status reviews { note } } }
}
"""


def test_a_subscription_passes_through_hive_gateway(
    node: str, service: str, reviews_subgraph: str, direct_orders: dict[str, dict[str, Any]], tmp_path: Any
) -> None:
    args = ["--subgraph", f"assessments={service}", "--subgraph", f"reviews={reviews_subgraph}"]
    gateway = start_node(node, GATEWAYS["hive"], args, tmp_path)
    try:
        # given a subscriber through the gateway, from now on
        cursor = httpx.post(gateway.url, json={"query": "{ assessmentOrderEventCursor }"}, timeout=15).json()
        subscriber = Subscriber(gateway.url.removesuffix("/graphql"), "sse",
                                {"after": cursor["data"]["assessmentOrderEventCursor"]}, None, count=1,
                                query=EVENTS_WITH_REVIEWS)  # fmt: skip
        # when a result is written to an order the reviews subgraph knows
        number, order_id = next((i, o) for i, o in enumerate(direct_orders, start=1)
                                if direct_orders[o]["provider"] == "STACKONE")  # fmt: skip
        write = "mutation($id: ID!) { updateAssessmentResult(input: {orderId: $id, status: COMPLETED}) { result { id } } }"
        assert "errors" not in httpx.post(service, json={"query": write, "variables": {"id": order_id}}, timeout=30).json()
        # then the event arrives through the gateway, joined with the review of the other subgraph
        [event] = events_of(subscriber.lines())
        assert event["kind"] == "RESULT_RECORDED"
        assert event["order"]["id"] == order_id
        assert event["order"]["reviews"] == [{"note": f"note {number}"}]
    finally:
        stop(gateway.proc)
