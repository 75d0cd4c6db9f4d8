"""Delivery benchmarks: mutation throughput and latency with a healthy provider, and the time from
a provider recovering to a backlog of queued results being delivered.

    .venv/bin/python -m bench.delivery [--db sqlite|postgres|both] [--results N] [--concurrency C]
                                       [--backlog N]

In-process: the service over httpx's ASGI transport, the StackOne sandbox in process, the store on
a SQLite file or a throw-away PostgreSQL database (bench.order_list.database: admin URL
BENCH_PG_ADMIN_URL, default postgresql://postgres@127.0.0.1:5432/postgres; skipped when unreachable). Each result goes to its own order, so every one is
a real write (no idempotent repeat, no supersede).
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx
from sqlalchemy import func, select

from app import Services, build_services, create_app
from bench.order_list import database
from bench.timing import pct
from providers.stackone.mapping import order_from_stackone
from resolvers.dispatch import DeliveryPolicy
from sandbox import create_sandboxes
from server.deliverer import Deliverer
from server.settings import sandbox_settings
from store.tables import results

MUTATION = """
mutation($input: UpdateAssessmentResultInput!) {
  updateAssessmentResult(input: $input) { delivery { state } }
}
"""
# Defaults, except a 1 s breaker cool-down so the recovery figure is not dominated by the wait.
POLICY = DeliveryPolicy(breaker_cooldown_seconds=1.0, poll_interval_seconds=0.2)


async def with_orders(url: str, count: int) -> tuple[Services, list[str]]:
    boxes = create_sandboxes()
    settings = sandbox_settings(url).model_copy(update={"delivery": POLICY})
    services = await build_services(settings, sandboxes=boxes, seed=False)
    ids = []
    for _ in range(count):
        raw = boxes.stackone.create_order()
        order = order_from_stackone("sandbox-stackone", raw, None)
        await services.store.upsert_order(order)
        ids.append(order.global_id)
    return services, ids


def result(order_id: str, n: int) -> dict[str, object]:
    return {"input": {"orderId": order_id, "status": "COMPLETED", "score": {"value": n % 100, "max": 100},
                      "summary": f"result {n}", "completedAt": "2026-11-01T10:00:00Z"}}  # fmt: skip


async def throughput(kind: str, count: int, concurrency: int) -> None:
    async with database(kind, "bench_delivery") as url:
        if url is None:
            return
        services, ids = await with_orders(url, count + 20)
        transport = httpx.ASGITransport(app=create_app(services))
        gate = asyncio.Semaphore(concurrency)
        samples: list[float] = []
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.bench") as http:

            async def write(n: int, record: bool = True) -> None:
                async with gate:
                    start = time.perf_counter()
                    body = (await http.post("/graphql", json={"query": MUTATION, "variables": result(ids[n], n)})).json()
                    assert body["data"]["updateAssessmentResult"]["delivery"]["state"] == "DELIVERED", body
                    if record:
                        samples.append((time.perf_counter() - start) * 1000)

            await asyncio.gather(*(write(count + n, record=False) for n in range(20)))  # warm-up
            began = time.perf_counter()
            await asyncio.gather(*(write(n) for n in range(count)))
            elapsed = time.perf_counter() - began
        await services.aclose()
    print(f"| {kind} | {count} | {concurrency} | {count / elapsed:.0f} | {pct(samples, 50):.1f} | {pct(samples, 99):.1f} |")


async def recovery(kind: str, backlog: int) -> None:
    async with database(kind, "bench_delivery") as url:
        if url is None:
            return
        services, ids = await with_orders(url, backlog)
        assert services.sandboxes is not None
        box = services.sandboxes.stackone
        deliverer = Deliverer(services.context)
        await deliverer.start()
        transport = httpx.ASGITransport(app=create_app(services))
        box.faults.configure({"rate_503": 1})
        gate = asyncio.Semaphore(16)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.bench") as http:

            async def write(n: int) -> None:
                async with gate:
                    await http.post("/graphql", json={"query": MUTATION, "variables": result(ids[n], n)})

            await asyncio.gather(*(write(n) for n in range(backlog)))
        box.faults.switch_off()
        recovered = time.perf_counter()
        while await delivered(services) < backlog:
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - recovered
        await deliverer.stop()
        await services.aclose()
    assert sorted(box.faults.applied.values()) == [1] * backlog
    print(f"| {kind} | {backlog} | {elapsed:.2f} | {backlog / elapsed:.0f} |")


async def delivered(services: Services) -> int:
    engine = services.store.engine  # type: ignore[attr-defined]
    async with engine.connect() as conn:
        stmt = select(func.count()).select_from(results).where(results.c.delivery_state == "DELIVERED")
        return int((await conn.execute(stmt)).scalar_one())


async def main(kinds: list[str], count: int, concurrency: int, backlog: int) -> None:
    print("Mutation throughput, healthy provider\n")
    print("| store | results | concurrency | results/s | p50 ms | p99 ms |\n|---|---|---|---|---|---|")
    for kind in kinds:
        await throughput(kind, count, 1)
        await throughput(kind, count, concurrency)
    print("\nRecovery: the provider answers 503 while the backlog is written, then recovers\n")
    print("| store | backlog | seconds from recovery to all delivered | results/s |\n|---|---|---|---|")
    for kind in kinds:
        await recovery(kind, backlog)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--results", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--backlog", type=int, default=1000)
    args = parser.parse_args()
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    asyncio.run(main(kinds, args.results, args.concurrency, args.backlog))
