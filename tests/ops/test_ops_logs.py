"""Logs of `python app.py` over a real socket: JSON lines when stderr is not a terminal (uvicorn's lines
too), an access line per request, the request id taken or generated and echoed, on every line of the
request (the delivery it started included), no candidate data; `--log-format text`, `--log-level`."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import httpx

from providers.models import OrderRef
from tests.processes import served_app

ORDERS = """query OpenKombo {
  assessmentOrders(first: 5, filter: {providers: [KOMBO], statuses: [OPEN]}) {
    edges { node { id candidate { firstName lastName emails } } }
  }
}"""
WRITE = """mutation WriteResult($input: UpdateAssessmentResultInput!) {
  updateAssessmentResult(input: $input) { result { id } delivery { state } }
}"""


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "GATEWAY_CONFIG" and not k.startswith("OTEL_")}


def json_lines(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def test_json_lines_with_request_ids(tmp_path: Path) -> None:
    # given the service with its output going to a file
    with served_app(tmp_path, clean_env()) as base, httpx.Client(base_url=base, timeout=30) as http:
        # when a query comes with a request id, another without, and a write with one
        listed = http.post("/graphql", json={"query": ORDERS}, headers={"x-request-id": "req-abc-123"})
        generated = http.post("/graphql", json={"query": "{ __typename }"})
        nodes = [e["node"] for e in listed.json()["data"]["assessmentOrders"]["edges"]]
        written = http.post("/graphql", headers={"x-request-id": "req-write-1"}, json={"query": WRITE, "variables": {
            "input": {"orderId": nodes[0]["id"], "status": "COMPLETED", "resultUrl": "https://vendor.example/r/3"}}})
    # then ids are echoed: the caller's, or a new one
    assert listed.headers["x-request-id"] == "req-abc-123"
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
    assert written.json()["data"]["updateAssessmentResult"]["delivery"]["state"] == "DELIVERED"
    result_id = written.json()["data"]["updateAssessmentResult"]["result"]["id"]
    # and every line the service printed is a JSON object (uvicorn's own included)
    lines = json_lines(tmp_path / "service.log")
    assert any(line["logger"].startswith("uvicorn") and "startup complete" in line["message"] for line in lines)
    access = [line for line in lines if line["logger"] == "gateway.access"]
    first = next(line for line in access if line.get("request_id") == "req-abc-123")
    assert {k: first[k] for k in ("method", "path", "status", "operation", "client")} == {
        "method": "POST", "path": "/graphql", "status": 200, "operation": "OpenKombo", "client": "anonymous"}
    assert first["duration_ms"] > 0
    assert any(line.get("request_id") == generated.headers["x-request-id"] for line in access)
    # the delivery the write started logs under the write's request id, with the order and result ids
    delivery = [line for line in lines if line["logger"] == "gateway.delivery"]
    assert {"request_id": "req-write-1", "operation": "WriteResult", "order_id": nodes[0]["id"],
            "result_id": result_id}.items() <= delivery[-1].items()  # fmt: skip
    # intake lines (the seeded webhooks) carry the order ids
    intake = [line for line in lines if line["logger"] == "gateway.webhooks" and "order_ids" in line]
    assert intake and all(OrderRef.parse(oid) for line in intake for oid in line["order_ids"])
    assert sum(len(line["order_ids"]) for line in intake) >= 15  # five or more per provider
    # no candidate data in the logs
    text = (tmp_path / "service.log").read_text()
    for node in nodes:
        for email in node["candidate"]["emails"]:
            assert email not in text
        assert node["candidate"]["lastName"] not in text


def test_text_format_and_level(tmp_path: Path) -> None:
    # given the service asked for text at debug level
    with served_app(tmp_path, clean_env(), ["--log-format", "text", "--log-level", "debug"]) as base:
        response = httpx.post(f"{base}/graphql", json={"query": "query Ping { __typename }"},
                              headers={"x-request-id": "req-text-1"}, timeout=30)  # fmt: skip
        assert response.status_code == 200
    lines = (tmp_path / "service.log").read_text().splitlines()
    # then lines are readable text, the access line with its context
    access = [line for line in lines if "gateway.access" in line and "req-text-1" in line]
    assert len(access) == 1
    assert "POST /graphql 200" in access[0]
    assert "request_id=req-text-1 operation=Ping client=anonymous" in access[0]
    assert not access[0].startswith("{")
    # and debug lines are shown (the /health probes' access lines)
    assert any("GET /health 200" in line for line in lines)


def test_warning_level_hides_access_lines(tmp_path: Path) -> None:
    with served_app(tmp_path, clean_env(), ["--log-level", "warning"]) as base:
        assert httpx.post(f"{base}/graphql", json={"query": "{ __typename }"}, timeout=30).status_code == 200
    lines = json_lines(tmp_path / "service.log")
    assert lines  # the open-access warning of the sandbox run
    assert all(line["level"] in ("warning", "error", "critical") for line in lines)
