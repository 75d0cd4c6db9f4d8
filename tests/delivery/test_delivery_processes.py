"""Real processes: kill -9 between recording and delivering, then a restart delivers (SQLite and
PostgreSQL); two service processes on one PostgreSQL share 500 results while the sandbox fails a
third of the calls: all delivered once, no overlapping writes, no duplicate for a repeated key."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from providers.models import OrderRef
from sandbox import create_sandboxes
from store import create_store
from store.tables import delivery_leases, results
from tests.delivery.processes import record_sandbox_orders, served_sandbox, start_service, write_config

WRITE = """
mutation($input: UpdateAssessmentResultInput!) {
  updateAssessmentResult(input: $input) { result { id } delivery { state attempts errorCode } }
}
"""
FAST = {
    "mutation_deadline_seconds": 0.5, "base_delay_seconds": 0.05, "max_delay_seconds": 0.5,
    "lease_margin_seconds": 1, "poll_interval_seconds": 0.1, "breaker_failures": 8,
    "breaker_cooldown_seconds": 0.2, "shutdown_grace_seconds": 2,
}  # fmt: skip
START = 120  # seconds a service may take to start: a starved, shared machine starts it slowly


def result_input(order_id: str, n: int) -> dict[str, Any]:
    return {"orderId": order_id, "status": "COMPLETED", "score": {"value": n % 10, "max": 10},
            "summary": f"result {n}", "idempotencyKey": f"key-{n}"}  # fmt: skip


async def states(database_url: str) -> dict[str, int]:
    store = create_store(database_url)
    try:
        async with store.engine.connect() as conn:
            rows = (await conn.execute(select(results.c.delivery_state, func.count()).group_by(results.c.delivery_state))).all()
    finally:
        await store.close()
    return {state: int(count) for state, count in rows}


async def post_with_retries(http: httpx.AsyncClient, url: str, body: dict[str, Any]) -> Any:
    """As a caller with an idempotency key does: the same request again when the connection broke
    (e.g. a kept-alive connection the server closed just as it was reused, on a starved machine)."""
    for _ in range(4):
        try:
            return (await http.post(url, json=body)).json()
        except httpx.TransportError:
            await asyncio.sleep(0.2)
    return (await http.post(url, json=body)).json()


async def wait_for_states(database_url: str, wanted: dict[str, int], timeout: float) -> None:
    """Until the results' delivery states are `wanted`; the failure names what they were. Generous:
    this checks where delivery ends, not how fast (a starved machine is slow)."""
    deadline = time.monotonic() + timeout
    while (seen := await states(database_url)) != wanted:
        if time.monotonic() > deadline:
            pytest.fail(f"not reached within {timeout} s: {seen}, wanted {wanted}")
        await asyncio.sleep(0.1)


async def test_kill_9_between_recording_and_delivering_then_restart_delivers(
    store_url: str, tmp_path: Path
) -> None:
    boxes = create_sandboxes()
    native = next(iter(boxes.stackone.orders))
    (order_id,) = await record_sandbox_orders(store_url, boxes, [native])
    async with served_sandbox(boxes) as sandbox_url:
        config = write_config(tmp_path / "gateway.toml", store_url, sandbox_url, FAST)
        # given a service whose provider call hangs (the result is recorded, the write is in flight)
        boxes.stackone.faults.configure({"rate_timeout": 1, "hang_seconds": 30})
        first = await start_service(config, tmp_path / "first.log", START)
        async with httpx.AsyncClient(base_url=first.url, timeout=10) as http:
            body = (await http.post("/graphql", json={"query": WRITE, "variables": {"input": result_input(order_id, 1)}})).json()
        assert body["data"]["updateAssessmentResult"]["delivery"]["state"] == "PENDING", body
        # when the process is killed with SIGKILL mid-call, and the provider recovers
        first.kill()
        assert await states(store_url) == {"PENDING": 1}
        boxes.stackone.faults.switch_off()
        # then a restarted service takes the dead instance's claim once its lease expires, and delivers
        second = await start_service(config, tmp_path / "second.log", START)
        try:
            await wait_for_states(store_url, {"DELIVERED": 1}, 60)
        finally:
            assert second.stop()
    assert boxes.stackone.faults.applied == {native: 1}
    assert boxes.stackone.results[native]["summary"] == "result 1"
    assert OrderRef.parse(order_id).provider_order_id == native


@pytest.mark.postgres
async def test_two_processes_share_500_results_under_random_faults(pg_url: str, tmp_path: Path) -> None:
    # several instances share one PostgreSQL (SQLite runs one instance)
    boxes = create_sandboxes()
    natives = [boxes.stackone.create_order()["id"] for _ in range(500)]
    order_ids = await record_sandbox_orders(pg_url, boxes, natives)
    # a third of the calls fail at random (500, 503, 429 with Retry-After, dropped connections)
    boxes.stackone.faults.configure({
        "rate_500": 0.12, "rate_503": 0.08, "rate_429": 0.05, "retry_after": 0.2, "rate_drop": 0.08,
        "latency_ms": [1, 5], "seed": 20261201,
    })  # fmt: skip
    async with served_sandbox(boxes) as sandbox_url:
        config = write_config(tmp_path / "gateway.toml", pg_url, sandbox_url, FAST)
        services = await asyncio.gather(*(start_service(config, tmp_path / f"s{i}.log", START) for i in range(2)))
        try:
            async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=40)) as http:
                gate = asyncio.Semaphore(24)

                async def write(n: int, via: int) -> str:
                    async with gate:
                        body = {"query": WRITE, "variables": {"input": result_input(order_ids[n], n)}}
                        answer = await post_with_retries(http, f"{services[via].url}/graphql", body)
                    assert "errors" not in answer, answer
                    return str(answer["data"]["updateAssessmentResult"]["result"]["id"])

                # 500 results spread over both; 50 of them repeated at once through the other one
                firsts = [write(n, n % 2) for n in range(500)]
                repeats = [write(n, (n + 1) % 2) for n in range(0, 500, 10)]
                ids = await asyncio.gather(*firsts, *repeats)
            assert ids[500:] == ids[0:500:10]  # a repeated key answers with the first result

            await wait_for_states(pg_url, {"DELIVERED": 500}, 240)  # generous: the machine may be starved
        finally:
            codes = [service.stop() for service in services]
    assert codes == [True, True]
    faults = boxes.stackone.faults
    assert sum(faults.injected.values()) > 100  # the faults really happened
    assert faults.overlaps == []  # never two writes for one order in flight
    assert all(boxes.stackone.results[native]["summary"] == f"result {n}" for n, native in enumerate(natives))
    store = create_store(pg_url)
    try:
        latest = await store.latest_results([OrderRef.parse(order_id) for order_id in order_ids])
        sends = {ref.provider_order_id: result.delivery.sends for ref, result in latest.items()}
        # each delivered, and every application the provider saw is a counted send (a second one
        # only after an outcome that could not be seen: a timeout under load)
        assert all(1 <= faults.applied[native] <= sends[native] for native in natives)
        async with store.engine.connect() as conn:
            held_by_someone = delivery_leases.c.holder != ""
            held = (await conn.execute(select(func.count()).select_from(delivery_leases).where(held_by_someone))).scalar_one()
    finally:
        await store.close()
    assert held == 0  # graceful shutdown gave back every claim
