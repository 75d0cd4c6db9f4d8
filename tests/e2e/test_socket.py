"""Over real sockets: the README's run command, and the service calling providers over HTTP."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp

from app import build_services, create_app
from providers.connections import Connection
from providers.models import ProviderName
from sandbox import SANDBOX_CREDENTIALS, create_sandbox_app, create_sandboxes
from server.settings import Settings
from tests.processes import free_port, served_app

LIST = "{ assessmentOrders(first: 100, filter: {statuses: [OPEN]}) { edges { node { id provider } } } }"
WRITE = """
mutation($input: UpdateAssessmentResultInput!) {
  updateAssessmentResult(input: $input) { order { id status result { delivery { state } } } delivery { state } }
}
"""


@pytest.fixture
def served_default(tmp_path: Path) -> Iterator[str]:
    """`python app.py --port P` from a fresh directory, with no configuration."""
    env = {k: v for k, v in os.environ.items() if k != "GATEWAY_CONFIG"}
    with served_app(tmp_path, env) as base:
        yield base
    assert (tmp_path / "data" / "gateway.db").exists()


def result_for(provider: str) -> dict[str, Any]:
    """A completed result every provider can take."""
    return {"status": "COMPLETED", "score": {"value": 7, "max": 10}, "resultUrl": "https://v.example/r/7",
            "completedAt": "2026-11-01T10:00:00Z"}  # fmt: skip


async def test_default_run_serves_graphiql_and_writes_to_every_provider(served_default: str) -> None:
    async with httpx.AsyncClient(base_url=served_default, timeout=10) as http:
        # GraphiQL is served to browsers at /graphql
        page = await http.get("/graphql", headers={"accept": "text/html"})
        assert page.status_code == 200 and "graphiql" in page.text.lower()
        # orders of every provider are listed
        listed = (await http.post("/graphql", json={"query": LIST})).json()
        first: dict[str, str] = {}
        for edge in listed["data"]["assessmentOrders"]["edges"]:
            first.setdefault(edge["node"]["provider"], edge["node"]["id"])
        assert set(first) == {p.value for p in ProviderName}
        # a result submitted for each comes back on the order, delivered
        for provider, order_id in first.items():
            body = (await http.post("/graphql", json={
                "query": WRITE, "variables": {"input": {"orderId": order_id, **result_for(provider)}},
            })).json()  # fmt: skip
            assert "errors" not in body, (provider, body)
            payload = body["data"]["updateAssessmentResult"]
            assert payload["delivery"]["state"] == "DELIVERED"
            assert payload["order"]["result"]["delivery"]["state"] == "DELIVERED"
            assert payload["order"]["status"] == "COMPLETED"
        # the sandbox recorded the writes it received
        received = (await http.get("/sandbox/kombo/_sandbox/requests")).json()
        assert any(r["method"] == "PUT" for r in received)


async def serve(app: ASGIApp, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    return server, task


@pytest.fixture
async def over_http(tmp_path: Path) -> AsyncIterator[tuple[str, Any]]:
    """Sandbox providers on one port, the service on another, talking real HTTP."""
    boxes = create_sandboxes()
    sandbox_port, service_port = free_port(), free_port()
    sandbox_server, sandbox_task = await serve(create_sandbox_app(boxes), sandbox_port)
    base = f"http://127.0.0.1:{sandbox_port}"
    c = SANDBOX_CREDENTIALS
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'g.db'}",
        sandbox=True,
        connections=(
            Connection(id="so", provider=ProviderName.STACKONE, base_url=f"{base}/stackone", **c["stackone"]),
            Connection(id="kb", provider=ProviderName.KOMBO, base_url=f"{base}/kombo/v1", **c["kombo"]),
            Connection(id="un", provider=ProviderName.UNIFIED_TO, base_url=f"{base}/unified_to", **c["unified_to"]),
        ),
    )  # fmt: skip
    services = await build_services(settings, sandboxes=boxes)
    service_server, service_task = await serve(create_app(services), service_port)
    try:
        yield f"http://127.0.0.1:{service_port}", boxes
    finally:
        for server, task in ((service_server, service_task), (sandbox_server, sandbox_task)):
            server.should_exit = True
            await task
        await services.aclose()


async def test_service_calls_providers_over_real_http(over_http: tuple[str, Any]) -> None:
    url, boxes = over_http
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        listed = (await http.post("/graphql", json={"query": LIST})).json()
        kombo = next(e["node"]["id"] for e in listed["data"]["assessmentOrders"]["edges"]
                     if e["node"]["provider"] == "KOMBO")  # fmt: skip
        body = (await http.post("/graphql", json={
            "query": WRITE, "variables": {"input": {"orderId": kombo, **result_for("KOMBO")}},
        })).json()  # fmt: skip
    assert body["data"]["updateAssessmentResult"]["delivery"]["state"] == "DELIVERED"
    sent = [r for r in boxes.kombo.received if r.method == "PUT"][-1]
    assert sent.headers["host"].startswith("127.0.0.1:")  # it came over the socket
    assert sent.body["status"] == "COMPLETED" and sent.body["score"] == 7
