"""Kombo's "not OPEN" refusal right after an unconfirmed attempt, end to end over real HTTP: the
first write is applied but its answer is lost; Kombo's reads lag its writes (its sync), so reading
the order back still shows OPEN and the write goes again; the ATS behind Kombo takes one result per
order, so the second write is refused as "not OPEN". That refusal is reconciled by reading the order
back (`GET /assessment/orders`), never FAILED: UNCONFIRMED until the read shows our status, then
DELIVERED (reconciled), with the one application the provider made."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import Services, build_services, create_app
from providers.connections import Connection
from providers.models import OrderRef, ProviderName
from resolvers.dispatch import DeliveryPolicy
from sandbox import SANDBOX_CREDENTIALS, Sandboxes, create_sandbox_app, create_sandboxes
from sandbox._common import utc_now
from server.deliverer import Deliverer
from server.settings import Settings
from tests.delivery.conftest import eventually
from tests.e2e.test_socket import LIST, result_for, serve
from tests.processes import free_port

WRITE = """
mutation($input: UpdateAssessmentResultInput!) {
  updateAssessmentResult(input: $input) { result { id } delivery { state sends } }
}
"""
DELIVERIES = "query { deliveries { edges { node { result { id } delivery { state attempts sends reconciled errorCode } } } } }"
POLICY = DeliveryPolicy(mutation_deadline_seconds=3, base_delay_seconds=0.05, max_delay_seconds=0.2,
                        lease_margin_seconds=2, poll_interval_seconds=0.05)  # fmt: skip


class SandboxClock:
    """Kombo's own time: how long its reads lag its writes is measured on it, moved by the test."""

    def __init__(self) -> None:
        self.now = utc_now()

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def kombo_over_http(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Sandboxes, SandboxClock, Services]]:
    boxes = create_sandboxes()
    clock = SandboxClock()
    boxes.kombo.clock = clock
    sandbox_server, sandbox_task = await serve(create_sandbox_app(boxes), sandbox_port := free_port())
    creds = SANDBOX_CREDENTIALS["kombo"]
    connection = Connection(id="kb", provider=ProviderName.KOMBO, base_url=f"http://127.0.0.1:{sandbox_port}/kombo/v1",
                            quarantine_seconds=0.2, **creds)  # fmt: skip
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'g.db'}", sandbox=True,
                        connections=(connection,), delivery=POLICY)  # fmt: skip
    services = await build_services(settings, sandboxes=boxes)
    deliverer = Deliverer(services.context)
    await deliverer.start()
    service_server, service_task = await serve(create_app(services), service_port := free_port())
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service_port}", timeout=20) as http:
            yield http, boxes, clock, services
    finally:
        service_server.should_exit = True
        await service_task
        await deliverer.stop()
        sandbox_server.should_exit = True
        await sandbox_task
        await services.aclose()


async def _delivery(http: httpx.AsyncClient, result_id: str) -> dict[str, Any]:
    edges = (await http.post("/graphql", json={"query": DELIVERIES})).json()["data"]["deliveries"]["edges"]
    return next(e["node"]["delivery"] for e in edges if e["node"]["result"]["id"] == result_id)


def _puts(boxes: Sandboxes, native: str) -> list[int]:
    return [r.status for r in boxes.kombo.received if r.method == "PUT" and native in r.path]


async def test_a_not_open_refusal_after_an_unconfirmed_write_is_reconciled_never_failed(
    kombo_over_http: tuple[httpx.AsyncClient, Sandboxes, SandboxClock, Services],
) -> None:
    http, boxes, clock, _ = kombo_over_http
    listed = (await http.post("/graphql", json={"query": LIST})).json()
    order_id = next(e["node"]["id"] for e in listed["data"]["assessmentOrders"]["edges"]
                    if e["node"]["provider"] == "KOMBO")  # fmt: skip
    native = OrderRef.parse(order_id).provider_order_id
    # Kombo's reads lag its writes (not synced until the test moves its clock), the ATS behind it takes
    # one result per order, and the first write's answer is lost after Kombo applied it
    faults = {"rate_lost_answer": 1, "stale_read_seconds": 60, "write_once": True}
    boxes.kombo.faults.configure(faults)
    # given a write Kombo applies while the answer is lost: UNCONFIRMED, one send
    written = (await http.post("/graphql", json={"query": WRITE, "variables": {
        "input": {"orderId": order_id, **result_for("KOMBO")}}})).json()["data"]["updateAssessmentResult"]  # fmt: skip
    assert written["delivery"] == {"state": "UNCONFIRMED", "sends": 1}
    assert boxes.kombo.orders[native]["status"] == "COMPLETED"
    boxes.kombo.faults.configure({"rate_lost_answer": 0})
    result_id = written["result"]["id"]

    # when, after the quarantine, the read back still shows OPEN (not synced), the write goes again and
    # is refused as "not OPEN"
    async def refused_and_unconfirmed() -> dict[str, Any] | None:
        delivery = await _delivery(http, result_id)
        assert delivery["state"] != "FAILED", delivery
        refused = 400 in _puts(boxes, native) and delivery["sends"] >= 2
        return delivery if refused and delivery["state"] == "UNCONFIRMED" else None

    delivery = await eventually(refused_and_unconfirmed, timeout=30)
    # then it is not FAILED: UNCONFIRMED, every request counted
    assert delivery["sends"] >= 2
    # and once Kombo has synced (its reads show the write), reading back reconciles it
    clock.now += timedelta(seconds=61)

    async def delivered() -> dict[str, Any] | None:
        current = await _delivery(http, result_id)
        assert current["state"] != "FAILED", current
        return current if current["state"] == "DELIVERED" else None

    final = await eventually(delivered, timeout=30)
    assert final["reconciled"] is True
    assert boxes.kombo.faults.applied == {native: 1}
    puts = _puts(boxes, native)
    assert puts[0] != 400 and set(puts[1:]) == {400}
    reads = [r for r in boxes.kombo.received if r.method == "GET" and native in str(r.query.get("ids"))]
    assert reads and all(r.headers["host"].startswith("127.0.0.1:") for r in reads)  # over the socket
