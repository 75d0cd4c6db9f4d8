"""Metrics through the ASGI app: who may scrape, queue and breaker gauges under a failing provider,
provider-call statuses, bounded operation labels, and the `[metrics]` settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app import Services, build_services, create_app
from providers.connections import Connection
from providers.models import OrderStatus, ProviderName
from providers.observed import ObservedTransport
from resolvers.dispatch import DeliveryPolicy
from sandbox import Sandboxes
from server.metrics import MAX_OPERATIONS, Metrics
from server.metrics_access import MetricsAccess
from server.settings import SettingsError, parse_settings, sandbox_settings
from store import OrderFilter

KOMBO: dict[str, Any] = {
    "auth": {"anonymous": True},
    "connections": [{"id": "k", "provider": "KOMBO", "base_url": "http://k.test", "api_key": "x", "integration_id": "i"}],
}
WRITE = """mutation Write($input: UpdateAssessmentResultInput!) {
  updateAssessmentResult(input: $input) { delivery { state } }
}"""


@pytest.fixture
async def built(tmp_path: Path, sandboxes: Sandboxes) -> AsyncIterator[Callable[..., Awaitable[Services]]]:
    opened: list[Services] = []

    async def make(**changes: Any) -> Services:
        settings = sandbox_settings(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}").model_copy(update=changes)
        services = await build_services(settings, sandboxes=sandboxes, seed=not opened)
        opened.append(services)
        return services

    yield make
    for services in opened:
        await services.aclose()


async def get(services: Services, path: str, client: tuple[str, int] = ("127.0.0.1", 5000), **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_app(services), client=client)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as http:
        return await http.get(path, headers=headers)


def value(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


@pytest.mark.parametrize(
    ("_case", "access", "client", "headers", "status"),
    [
        ("loopback by default", MetricsAccess(), "127.0.0.1", {}, 200),
        ("ipv6 loopback by default", MetricsAccess(), "::1", {}, 200),
        ("remote refused by default", MetricsAccess(), "203.0.113.9", {}, 403),
        ("allowed network", MetricsAccess(allow=("10.0.0.0/8",)), "10.1.2.3", {}, 200),
        ("loopback not in a replaced list", MetricsAccess(allow=("10.0.0.0/8",)), "127.0.0.1", {}, 403),
        ("token admits remote", MetricsAccess(allow=(), bearer_token="s3cret"), "203.0.113.9",
         {"authorization": "Bearer s3cret"}, 200),
        ("wrong token", MetricsAccess(allow=(), bearer_token="s3cret"), "203.0.113.9",
         {"authorization": "Bearer nope"}, 403),
        ("disabled", MetricsAccess(enabled=False), "127.0.0.1", {}, 403),
    ],
)  # fmt: skip
async def test_access(
    built: Callable[..., Awaitable[Services]], _case: str, access: MetricsAccess, client: str,
    headers: dict[str, str], status: int,
) -> None:
    # given the service with this access rule
    services = await built(metrics=access)
    # when a client at this address scrapes
    response = await get(services, "/metrics", (client, 4000), **headers)
    # then
    assert response.status_code == status
    if status == 403:
        assert response.json() == {"errors": [{"message": "Not allowed to read metrics.",
                                               "extensions": {"code": "FORBIDDEN"}}]}  # fmt: skip
    else:
        assert value(response.text, "gateway_deliveries", state="PENDING") == 0


async def test_failing_provider_shows_in_queue_breaker_and_call_status(
    built: Callable[..., Awaitable[Services]], sandboxes: Sandboxes
) -> None:
    # given a Kombo sandbox answering 503 and a breaker that opens after one failure
    services = await built(delivery=DeliveryPolicy(breaker_failures=1, breaker_cooldown_seconds=600))
    sandboxes.kombo.faults.configure({"rate_503": 1})
    page = await services.store.list_orders(
        OrderFilter(providers=(ProviderName.KOMBO,), statuses=(OrderStatus.OPEN,)), first=1
    )
    order_id = page.orders[0].global_id
    # when a result is written for one of its orders
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as http:
        body = (await http.post("/graphql", json={"query": WRITE, "variables": {"input": {
            "orderId": order_id, "status": "COMPLETED", "resultUrl": "https://vendor.example/r/2"}}})).json()
        scrape = await http.get("/metrics")
    # then the write waits, and the scrape says so
    assert body["data"]["updateAssessmentResult"]["delivery"]["state"] == "RETRYING", body
    text = scrape.text
    assert value(text, "gateway_deliveries", state="RETRYING") == 1
    assert value(text, "gateway_delivery_queue_depth", connection="sandbox-kombo") == 1
    assert value(text, "gateway_delivery_queue_depth", connection="sandbox-stackone") == 0
    age = value(text, "gateway_delivery_oldest_waiting_age_seconds", connection="sandbox-kombo")
    assert age is not None and age > 0
    assert value(text, "gateway_breaker_state", connection="sandbox-kombo", provider="KOMBO", state="OPEN") == 1
    assert value(text, "gateway_breaker_state", connection="sandbox-kombo", provider="KOMBO", state="CLOSED") == 0
    assert value(text, "gateway_provider_request_duration_seconds_count",
                 provider="KOMBO", connection="sandbox-kombo", status="503") == 1  # fmt: skip
    assert value(text, "gateway_delivery_transitions_total",
                 connection="sandbox-kombo", from_state="PENDING", to_state="RETRYING") == 1  # fmt: skip


async def test_a_timed_out_provider_call_is_counted_as_timeout() -> None:
    # given a transport that times out
    def timing_out(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("simulated", request=request)

    calls: list[tuple[str, str, str, float]] = []
    connection = Connection(id="k1", provider=ProviderName.KOMBO, base_url="http://kombo.test", api_key="k")
    transport = ObservedTransport(httpx.MockTransport(timing_out), connection, lambda *call: calls.append(call))
    # when a call is made
    async with httpx.AsyncClient(transport=transport, base_url="http://kombo.test") as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get("/v1/assessment/orders")
    # then it is reported once, as a timeout
    assert [(p, c, s) for p, c, s, _ in calls] == [("KOMBO", "k1", "timeout")]


def test_operation_names_are_a_bounded_label_set() -> None:
    # given more distinct operation names than the cap
    metrics = Metrics()
    for n in range(MAX_OPERATIONS + 5):
        metrics.graphql_request(f"Op{n}", "ok", 0.01)
    # then the names past the cap are counted as "other"
    text = metrics.exposition().decode()
    assert value(text, "gateway_graphql_request_duration_seconds_count", operation="Op0", outcome="ok") == 1
    assert value(text, "gateway_graphql_request_duration_seconds_count", operation="other", outcome="ok") == 5


def test_metrics_settings_problems_are_listed() -> None:
    # given a [metrics] section with a bad network, an unknown key and a token from an unset variable
    data = {**KOMBO, "metrics": {"allow": ["not-a-network"], "colour": "red", "bearer_token": "env:NOT_SET_ANYWHERE"}}
    # when parsed
    with pytest.raises(SettingsError) as caught:
        parse_settings(data, environ={})
    # then each is a problem
    problems = "\n".join(caught.value.problems)
    assert "[metrics].bearer_token names environment variable NOT_SET_ANYWHERE" in problems
    assert "[metrics].allow" in problems
    assert "[metrics].colour" in problems


def test_metrics_token_from_the_environment() -> None:
    data = {**KOMBO, "metrics": {"allow": [], "bearer_token": "env:SCRAPE_TOKEN"}}
    settings = parse_settings(data, environ={"SCRAPE_TOKEN": "t0ken"})
    assert settings.metrics.admits("203.0.113.9", "Bearer t0ken")
    assert not settings.metrics.admits("127.0.0.1", None)
