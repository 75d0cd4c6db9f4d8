"""updateAssessmentResult through the service vs. the same write sent straight to the sandbox.

    .venv/bin/python -m bench.mutation_latency [--iterations N]

Both paths run in-process over httpx's ASGI transport, so the difference is the service's own
cost: GraphQL parsing and validation, translation, two store transactions (record, then
delivery) on a SQLite file, and the merge.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

import httpx

from app import build_services, create_app
from bench.timing import pct, timed
from providers.models import OrderRef, OrderStatus
from sandbox import create_sandbox_app, create_sandboxes
from server.settings import sandbox_settings
from store import OrderFilter

MUTATION = """
mutation($input: UpdateAssessmentResultInput!) {
  updateAssessmentResult(input: $input) { delivery { state } warnings { code } order { status } }
}
"""
INPUT = {
    "status": "COMPLETED", "score": {"value": 80, "min": 0, "max": 100, "label": "Percentage"},
    "summary": "Test is passed", "resultUrl": "https://vendor.example/result/1",
    "startedAt": "2026-11-01T09:00:00Z", "completedAt": "2026-11-01T10:00:00Z",
}  # fmt: skip


async def run(iterations: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        boxes = create_sandboxes()
        services = await build_services(
            sandbox_settings(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"), sandboxes=boxes
        )
        page = await services.store.list_orders(
            OrderFilter(connection_ids=("sandbox-stackone",), statuses=(OrderStatus.OPEN,)), first=1
        )
        order = page.orders[0]
        adapter = services.context.adapters["sandbox-stackone"]
        prepared = adapter.prepare_result(order, _update(), None, services.context.clock())
        conn = services.context.connections["sandbox-stackone"]
        gateway = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(services)), base_url="http://gw")
        direct = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_sandbox_app(boxes)), base_url=conn.base_url)
        variables = {"input": {**INPUT, "orderId": OrderRef(order.connection_id, order.provider_order_id).encode()}}
        path = f"/unified/ats/assessments/orders/{order.provider_order_id}/result"
        headers = {"authorization": httpx.BasicAuth(conn.api_key, "")._auth_header, "x-account-id": conn.account_id or ""}

        async def through_service() -> None:
            response = await gateway.post("/graphql", json={"query": MUTATION, "variables": variables})
            assert response.json()["data"]["updateAssessmentResult"]["delivery"]["state"] == "DELIVERED"

        async def straight_to_sandbox() -> None:
            response = await direct.patch(path, json=prepared.body, headers=headers)
            assert response.status_code == 200

        service_ms = await timed(through_service, iterations, warmup=20)
        direct_ms = await timed(straight_to_sandbox, iterations, warmup=20)
        await gateway.aclose()
        await direct.aclose()
        await services.aclose()
    print(f"updateAssessmentResult (StackOne sandbox, SQLite store), {iterations} iterations")
    print(f"{'path':<22}{'p50 ms':>10}{'p99 ms':>10}")
    for name, samples in (("through the service", service_ms), ("direct to sandbox", direct_ms)):
        print(f"{name:<22}{pct(samples, 50):>10.2f}{pct(samples, 99):>10.2f}")
    print(f"ratio service/direct: p50 {pct(service_ms, 50) / pct(direct_ms, 50):.1f}x, "
          f"p99 {pct(service_ms, 99) / pct(direct_ms, 99):.1f}x")  # fmt: skip


def _update():  # type: ignore[no-untyped-def]
    from providers.models import ResultUpdate, Score
    from schema.scalars import parse_datetime

    return ResultUpdate(
        status=OrderStatus.COMPLETED, score=Score(value=80, min=0, max=100, label="Percentage"),
        summary=INPUT["summary"], result_url=INPUT["resultUrl"],
        started_at=parse_datetime(INPUT["startedAt"]), completed_at=parse_datetime(INPUT["completedAt"]),
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=500)
    asyncio.run(run(parser.parse_args().iterations))


if __name__ == "__main__":
    main()
