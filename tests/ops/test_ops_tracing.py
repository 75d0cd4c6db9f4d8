"""Tracing with the console exporter over real sockets: a service process configured against a sandbox
served on a loopback port. An incoming `traceparent` is the parent of the HTTP span; the GraphQL
operation, store transactions, provider call and delivery attempt are in its trace with consistent
parent ids; the provider receives `traceparent`; a later attempt by the deliverer links back to the
request that recorded the result; webhook intake is a span; log lines carry the trace id."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox import Sandboxes, create_sandbox_app, create_sandboxes
from tests.delivery.processes import CONNECTION, record_sandbox_orders, start_service, write_config
from tests.processes import free_port

TRACE_1, PARENT_1 = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
TRACE_2, PARENT_2 = "5cf92f3577b34da6a3ce929d0e0e4737", "10f067aa0ba902b8"
WRITE = """mutation Write($input: UpdateAssessmentResultInput!) {
  updateAssessmentResult(input: $input) { result { id } delivery { state } }
}"""
POLICY = {"mutation_deadline_seconds": 5, "base_delay_seconds": 0.05, "max_delay_seconds": 0.2,
          "poll_interval_seconds": 0.1, "breaker_failures": 8}  # fmt: skip


class HeaderRecorder:
    """Keeps the `traceparent` of every request the sandbox receives."""

    def __init__(self, app: ASGIApp) -> None:
        self.app, self.traceparents = app, []  # type: ignore[var-annotated]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.traceparents.append(dict(scope["headers"]).get(b"traceparent", b"").decode())
        await self.app(scope, receive, send)


@asynccontextmanager
async def served(app: ASGIApp) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="critical"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def spans_and_logs(log: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [x for x in lines if "context" in x], [x for x in lines if "logger" in x]


def of_trace(spans: list[dict[str, Any]], trace_id: str) -> list[dict[str, Any]]:
    return [s for s in spans if s["context"]["trace_id"] == f"0x{trace_id}"]


def write(order_id: str, summary: str) -> dict[str, Any]:
    return {"query": WRITE, "variables": {"input": {"orderId": order_id, "status": "COMPLETED", "summary": summary,
                                                    "score": {"value": 7, "max": 10}}}}  # fmt: skip


async def wait_until(check: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not reached within {timeout} s")
        await asyncio.sleep(0.05)


async def test_console_spans(tmp_path: Path) -> None:
    boxes: Sandboxes = create_sandboxes()
    natives = list(boxes.stackone.orders)[:2]
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}"
    order_1, order_2 = await record_sandbox_orders(database_url, boxes, natives)
    recorder = HeaderRecorder(create_sandbox_app(boxes))
    async with served(recorder) as sandbox_url:
        config = write_config(tmp_path / "gateway.toml", database_url, sandbox_url, POLICY)
        env = {"OTEL_TRACES_EXPORTER": "console", "PYTHONUNBUFFERED": "1", "OTEL_SERVICE_NAME": "gw-under-test"}
        service = await start_service(config, tmp_path / "service.log", extra_env=env)
        try:
            async with httpx.AsyncClient(base_url=service.url, timeout=30) as http:
                # given a write sent with a traceparent, delivered at once
                first = await http.post("/graphql", json=write(order_1, "first"),
                                        headers={"traceparent": f"00-{TRACE_1}-{PARENT_1}-01"})  # fmt: skip
                assert first.json()["data"]["updateAssessmentResult"]["delivery"]["state"] == "DELIVERED"
                # and a write whose first attempt fails, delivered later by the background deliverer
                boxes.stackone.faults.configure({"rate_503": 1})
                second = await http.post("/graphql", json=write(order_2, "second"),
                                         headers={"traceparent": f"00-{TRACE_2}-{PARENT_2}-01"})  # fmt: skip
                assert second.json()["data"]["updateAssessmentResult"]["delivery"]["state"] == "RETRYING"
                boxes.stackone.faults.switch_off()
                await wait_until(lambda: boxes.stackone.results.get(natives[1], {}).get("summary") == "second")
                # and a webhook with a bad signature
                hook = await http.post(f"/webhooks/{CONNECTION}", content=b"{}",
                                       headers={"content-type": "application/json"})  # fmt: skip
                assert hook.status_code == 401
                # and a GET whose query string carries variables
                await http.get("/graphql", params={"query": "query Q($e: String) { __typename }",
                                                   "variables": '{"e": "secret.candidate@example.com"}'},
                               headers={"apollo-require-preflight": "1"})  # fmt: skip
                await asyncio.sleep(0.5)  # the background attempt's span ends after its store write
        finally:
            service.stop()
    spans, logs = spans_and_logs(tmp_path / "service.log")
    trace_1 = of_trace(spans, TRACE_1)
    ids = {s["context"]["span_id"] for s in trace_1}
    by_name = {s["name"]: s for s in trace_1}
    # then the HTTP span is the child of the caller's span, the operation the child of the HTTP span
    server = next(s for s in trace_1 if s["kind"] == "SpanKind.SERVER" and s["parent_id"] == f"0x{PARENT_1}")
    assert server["resource"]["attributes"]["service.name"] == "gw-under-test"
    assert by_name["GraphQL Query: Write"]["parent_id"] == server["context"]["span_id"]
    # every parent in the trace is a span of the trace (or the caller's)
    assert all(s["parent_id"] in ids | {f"0x{PARENT_1}"} for s in trace_1)
    # store transactions, SQL statements, the delivery attempt and the provider call are in it
    assert "store transaction" in by_name and "delivery attempt" in by_name
    assert any(s["attributes"].get("db.system") == "sqlite" for s in trace_1)
    client = [s for s in trace_1 if s["kind"] == "SpanKind.CLIENT" and "http.method" in s["attributes"]]
    assert [c["attributes"]["http.method"] for c in client] == ["PATCH"]  # StackOne's result write
    # the provider received the client span as its parent
    assert f"00-{TRACE_1}-{client[0]['context']['span_id'][2:]}-01" in recorder.traceparents
    # the later attempt of the second write is its own trace, linked to the request that recorded it
    later = [s for s in spans if s["name"] == "delivery attempt" and s["context"]["trace_id"] != f"0x{TRACE_2}"]
    assert later, "no background attempt span"
    assert any(link["context"]["trace_id"] == f"0x{TRACE_2}" for link in later[-1]["links"])
    assert later[-1]["attributes"]["gateway.delivery.state"] == "DELIVERED"
    # webhook intake is a span under its HTTP span
    intake = next(s for s in spans if s["name"] == "webhook intake")
    assert intake["parent_id"] in {s["context"]["span_id"] for s in spans if s["kind"] == "SpanKind.SERVER"}
    # no span holds the query string
    get = next(s for s in spans if s["kind"] == "SpanKind.SERVER" and s["name"].startswith("GET"))
    assert get["attributes"]
    assert "secret.candidate" not in (tmp_path / "service.log").read_text()
    # log lines of the first request carry its trace id
    assert any(line.get("trace_id") == TRACE_1 and line["logger"] == "gateway.access" for line in logs)


def test_tracing_is_off_by_default() -> None:
    from server.tracing import exporters_from

    assert exporters_from({}) == []
    assert exporters_from({"OTEL_TRACES_EXPORTER": "none"}) == []
    assert exporters_from({"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}) == []
    assert exporters_from({"OTEL_TRACES_EXPORTER": "otlp,console"}) == ["otlp", "console"]
