"""The default run restarted: orders created through the sandbox stay writable, and the sandbox stays consistent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from providers.models import OrderRef
from tests.processes import ROOT, START_TIMEOUT, free_port, served_app

CONNECTIONS = {"stackone": "sandbox-stackone", "kombo": "sandbox-kombo", "unified_to": "sandbox-unified-to"}
WRITE = """
mutation($input: UpdateAssessmentResultInput!) {
  updateAssessmentResult(input: $input) { delivery { state errorCode errorMessage } }
}
"""
RESULT = {"status": "COMPLETED", "score": {"value": 7, "max": 10}, "resultUrl": "https://v.example/r/7",
          "completedAt": "2026-11-01T10:00:00Z"}  # fmt: skip


def default_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "GATEWAY_CONFIG"}


def create_orders(base: str) -> dict[str, str]:
    """One order per provider through `POST /sandbox/{p}/_sandbox/orders`; the global id of each."""
    created: dict[str, str] = {}
    for provider, connection in CONNECTIONS.items():
        response = httpx.post(f"{base}/sandbox/{provider}/_sandbox/orders", json={}, timeout=10)
        assert response.status_code == 201, response.text
        created[provider] = OrderRef(connection, response.json()["order"]["id"]).encode()
    return created


def write(base: str, order_id: str) -> dict[str, Any]:
    body = httpx.post(f"{base}/graphql", json={"query": WRITE, "variables": {"input": {"orderId": order_id, **RESULT}}},
                      timeout=10).json()  # fmt: skip
    assert "errors" not in body, body
    delivery: dict[str, Any] = body["data"]["updateAssessmentResult"]["delivery"]
    return delivery


def sandbox_orders(base: str, provider: str) -> set[str]:
    return {order["id"] for order in httpx.get(f"{base}/sandbox/{provider}/_sandbox/orders", timeout=10).json()}


def test_orders_created_through_the_sandbox_take_results_after_a_restart(tmp_path: Path) -> None:
    # given: one order per provider created through the sandbox, then the service restarted on the same directory
    with served_app(tmp_path, default_env()) as base:
        created = create_orders(base)
    with served_app(tmp_path, default_env()) as base:
        # when: a result is written to each
        states = {provider: write(base, order_id) for provider, order_id in created.items()}
    # then: every provider took it
    assert {p: d["state"] for p, d in states.items()} == dict.fromkeys(CONNECTIONS, "DELIVERED"), states


def test_a_restart_keeps_every_sandbox_order_and_its_written_status(tmp_path: Path) -> None:
    # given: a created order per provider, a result written to the Kombo one, then a restart
    with served_app(tmp_path, default_env()) as base:
        created = create_orders(base)
        assert write(base, created["kombo"])["state"] == "DELIVERED"
        before = {provider: sandbox_orders(base, provider) for provider in CONNECTIONS}
    with served_app(tmp_path, default_env()) as base:
        # then: each sandbox holds the same orders as before, the created ones among them
        after = {provider: sandbox_orders(base, provider) for provider in CONNECTIONS}
        kombo = httpx.get(f"{base}/sandbox/kombo/_sandbox/orders", timeout=10).json()
    assert after == before
    assert all(OrderRef.parse(created[p]).provider_order_id in after[p] for p in CONNECTIONS)
    # and the Kombo order still carries the status the result set
    kombo_id = OrderRef.parse(created["kombo"]).provider_order_id
    assert next(o["status"] for o in kombo if o["id"] == kombo_id) == "COMPLETED"


def test_a_created_order_survives_a_crash_of_the_service(tmp_path: Path) -> None:
    # given: an order created through the Kombo sandbox, then the process killed with SIGKILL (no shutdown)
    port = free_port()
    with (tmp_path / "first.log").open("wb") as out:
        proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], cwd=tmp_path,
                                env={**default_env(), "PYTHONPATH": str(ROOT)}, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, proc)
        response = httpx.post(f"{base}/sandbox/kombo/_sandbox/orders", json={}, timeout=10)
        assert response.status_code == 201
        created = OrderRef("sandbox-kombo", response.json()["order"]["id"]).encode()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    # when: the service starts again on the same directory
    with served_app(tmp_path, default_env()) as base:
        # then: the order the sandbox answered for is there, and takes a result
        assert write(base, created)["state"] == "DELIVERED"


def wait_healthy(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail("service did not start")
