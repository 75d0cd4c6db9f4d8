"""`/metrics` over a real socket: `python app.py` (the sandbox default run) serves traffic, then a scrape
with httpx is parsed with prometheus_client's own parser."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.processes import served_app

OPEN_ORDERS = "query OpenKombo { assessmentOrders(first: 1, filter: {providers: [KOMBO], statuses: [OPEN]}) { edges { node { id } } } }"
WRITE = """mutation WriteResult($input: UpdateAssessmentResultInput!) {
  updateAssessmentResult(input: $input) { result { id } delivery { state } }
}"""
SYNC = 'mutation SyncKombo { syncConnection(connectionId: "sandbox-kombo") { finished } }'


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("metrics")
    env = {k: v for k, v in os.environ.items() if k != "GATEWAY_CONFIG" and not k.startswith("OTEL_")}
    with served_app(workdir, env) as base:
        yield base


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(scraped: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


def graphql(http: httpx.Client, query: str, variables: dict[str, object] | None = None) -> dict[str, object]:
    response = http.post("/graphql", json={"query": query, "variables": variables or {}})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_scrape_after_traffic_shows_every_family(service: str) -> None:
    with httpx.Client(base_url=service, timeout=30) as http:
        # given queries, a result write, a Kombo sync and a webhook with a bad signature
        body = graphql(http, OPEN_ORDERS)
        order_id = body["data"]["assessmentOrders"]["edges"][0]["node"]["id"]  # type: ignore[index]
        result = {"orderId": order_id, "status": "COMPLETED", "score": {"value": 7, "max": 10},
                  "resultUrl": "https://vendor.example/r/1"}
        written = graphql(http, WRITE, {"input": result})
        assert written.get("data"), written
        assert written["data"]["updateAssessmentResult"]["delivery"]["state"] == "DELIVERED", written  # type: ignore[index]
        assert graphql(http, SYNC)["data"] == {"syncConnection": {"finished": True}}
        assert http.post("/graphql", json={"query": "{ nope }"}).status_code in (200, 400)
        refused = http.post("/webhooks/sandbox-kombo", content=b"{}", headers={"content-type": "application/json"})
        assert refused.status_code == 401
        # when Prometheus scrapes
        scrape = http.get("/metrics")
    # then the exposition parses and carries each family with its labels
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain; version=")
    got = samples(scrape.text)
    assert value(got, "gateway_graphql_request_duration_seconds_count", operation="OpenKombo", outcome="ok") == 1
    assert value(got, "gateway_graphql_request_duration_seconds_count", operation="WriteResult", outcome="ok") == 1
    assert value(got, "gateway_graphql_request_duration_seconds_count", operation="anonymous", outcome="rejected") == 1
    assert value(got, "gateway_provider_request_duration_seconds_count",
                 provider="KOMBO", connection="sandbox-kombo", status="200") >= 2  # the write and the sync
    assert value(got, "gateway_deliveries", state="DELIVERED") == 1
    assert value(got, "gateway_deliveries", state="FAILED") == 0
    assert value(got, "gateway_delivery_transitions_total",
                 connection="sandbox-kombo", from_state="NEW", to_state="PENDING") == 1
    assert value(got, "gateway_delivery_transitions_total",
                 connection="sandbox-kombo", from_state="PENDING", to_state="DELIVERED") == 1
    for connection in ("sandbox-stackone", "sandbox-kombo", "sandbox-unified-to"):
        assert ("gateway_delivery_queue_depth", frozenset({("connection", connection)})) in got
        assert value(got, "gateway_delivery_queue_depth", connection=connection) == 0
        assert value(got, "gateway_delivery_oldest_waiting_age_seconds", connection=connection) == 0
    assert value(got, "gateway_breaker_state", connection="sandbox-kombo", provider="KOMBO", state="CLOSED") == 1
    assert value(got, "gateway_breaker_state", connection="sandbox-kombo", provider="KOMBO", state="OPEN") == 0
    assert value(got, "gateway_webhook_requests_total",
                 provider="KOMBO", connection="sandbox-kombo", outcome="BAD_SIGNATURE") == 1
    assert value(got, "gateway_webhook_requests_total",
                 provider="KOMBO", connection="sandbox-kombo", outcome="accepted") >= 1  # the seeded orders
    # the mutation's run and the background poller's (one of them may have found the other running)
    runs = sum(v for (name, labels), v in got.items()
               if name == "gateway_kombo_sync_runs_total" and ("connection", "sandbox-kombo") in labels)  # fmt: skip
    assert runs >= 2
    assert value(got, "gateway_kombo_sync_runs_total", connection="sandbox-kombo", outcome="finished") >= 1
