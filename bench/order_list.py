"""assessmentOrders p50/p99 through the GraphQL app on a store of many orders, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.order_list [--orders 100000] [--iterations 200] [--backend sqlite|postgres|both]

The app runs in-process over httpx's ASGI transport on an unseeded store filled with `--orders` orders
(bulk insert through SQLAlchemy Core executemany, rows shaped by store.queries.order_row), then
ANALYZEd. Timed: the first page of 100, a filtered page (two statuses + a name search) and a deep page
(100 orders after a cursor half way down), each with `totalCount`; then the first and the deep page
without it (the count is the one part that reads every matching row, so it is only run when selected). PostgreSQL uses a fresh database on BENCH_PG_ADMIN_URL
(default postgresql://postgres@127.0.0.1:5432/postgres), dropped afterwards; skipped when unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

from app import Services, build_services, create_app
from bench.timing import pct, timed
from providers.models import AssessmentOrder, Candidate, Job, OrderStatus, Package, ProviderName
from sandbox import create_sandboxes
from server.settings import sandbox_settings
from store import SqlStore, create_store
from store.cursors import encode_cursor
from store.queries import order_row
from store.tables import orders

PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
CONNECTIONS = (
    ("sandbox-stackone", ProviderName.STACKONE),
    ("sandbox-kombo", ProviderName.KOMBO),
    ("sandbox-unified-to", ProviderName.UNIFIED_TO),
)
FIRST = ("Ada", "Grace", "Alan", "Katherine", "Edsger", "Barbara", "Donald", "Frances", "John", "Radia")
LAST = ("Lovelace", "Hopper", "Turing", "Johnson", "Dijkstra", "Liskov", "Knuth", "Allen", "Backus", "Perlman",
        "Smith", "Nguyen", "Garcia", "Müller", "Kowalski", "Okafor", "Tanaka", "Silva", "Novak", "Haddad")  # fmt: skip
T0 = datetime(2025, 1, 1, tzinfo=UTC)
BATCH = 5_000

NODE = "id provider status package { id } candidate { name firstName lastName emails } job { title } createdAt"
PAGE = f"""
query($filter: AssessmentOrderFilter, $first: Int, $after: String) {{
  assessmentOrders(filter: $filter, first: $first, after: $after) {{
    totalCount pageInfo {{ hasNextPage endCursor }} edges {{ cursor node {{ {NODE} }} }}
  }}
}}
"""
PAGE_UNCOUNTED = PAGE.replace("totalCount ", "")  # the same page without the one part that reads every row


# --------------------------------------------------------------------------- data


def sample_order(i: int, rng: random.Random) -> AssessmentOrder:
    connection_id, provider = CONNECTIONS[i % len(CONNECTIONS)]
    first, last = rng.choice(FIRST), rng.choice(LAST)
    created = T0 + timedelta(seconds=rng.randrange(365 * 86_400))
    return AssessmentOrder(
        connection_id=connection_id, provider=provider, provider_order_id=f"bench-{i:07d}",
        status=rng.choice(tuple(OrderStatus)), provider_status="open",
        package=Package(id=f"pkg-{rng.randrange(20)}", name="Package"),
        candidate=Candidate(remote_id=f"cand-{i}", first_name=first, last_name=last,
                            emails=(f"{first}.{last}.{i}@example.com".lower(),)),
        job=Job(remote_id=f"job-{i % 500}", title="Software Engineer"),
        created_at=created, updated_at=created + timedelta(minutes=rng.randrange(60 * 24 * 30)),
        raw={"id": f"bench-{i:07d}", "status": "open"},
    )  # fmt: skip


async def fill(store: SqlStore, count: int) -> list[dict[str, Any]]:
    """Insert `count` orders in executemany batches; the rows, for picking cursors."""
    rng, now, rows = random.Random(7), datetime.now(UTC), []
    async with store.engine.begin() as conn:
        for start in range(0, count, BATCH):
            batch = [order_row(sample_order(i, rng), now) for i in range(start, min(start + BATCH, count))]
            await conn.execute(insert(orders), batch)
            rows += [{"id": r["id"], "created_at": r["created_at"]} for r in batch]
    async with store.engine.begin() as conn:
        await conn.execute(text("ANALYZE"))
    return rows


# --------------------------------------------------------------------------- databases


@asynccontextmanager
async def postgres_database(prefix: str) -> AsyncIterator[str | None]:
    """A fresh database URL (dropped afterwards), or None when the server is unreachable."""
    admin_url = make_url(PG_ADMIN_URL).set(drivername="postgresql")
    try:
        admin = await asyncpg.connect(admin_url.render_as_string(hide_password=False), timeout=5)
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        print(f"PostgreSQL skipped: not reachable at {make_url(PG_ADMIN_URL)!r} ({exc!r})")
        yield None
        return
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.set(drivername="postgresql+asyncpg", database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@asynccontextmanager
async def database(backend: str, prefix: str) -> AsyncIterator[str | None]:
    if backend == "postgres":
        async with postgres_database(prefix) as url:
            yield url
        return
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"


async def unseeded_services(url: str) -> Services:
    store = create_store(url)
    return await build_services(sandbox_settings(url), store=store, sandboxes=create_sandboxes(), seed=False)


# --------------------------------------------------------------------------- timing


async def bench_backend(backend: str, count: int, iterations: int) -> list[tuple[str, list[float]]] | None:
    async with database(backend, "bench_order_list") as url:
        if url is None:
            return None
        services = await unseeded_services(url)
        started = time.perf_counter()
        rows = await fill(services.store, count)  # type: ignore[arg-type]
        print(f"[{backend}] filled {count:,} orders in {time.perf_counter() - started:.1f}s")
        rows.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
        middle = rows[len(rows) // 2]
        deep_cursor = encode_cursor("created_at", middle["created_at"], middle["id"])
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(services)), base_url="http://gw")

        async def query(variables: dict[str, Any], document: str = PAGE) -> None:
            response = await http.post("/graphql", json={"query": document, "variables": variables})
            body = response.json()
            assert "errors" not in body, body
            assert body["data"]["assessmentOrders"]["edges"], body

        filtered = {"statuses": ["OPEN", "IN_PROGRESS"], "search": "smith"}
        deep = f"deep page (after #{len(rows) // 2:,})"
        cases = [
            ("first: 100", {"first": 100}, PAGE),
            ("status+search, first: 100", {"filter": filtered, "first": 100}, PAGE),
            (deep, {"first": 100, "after": deep_cursor}, PAGE),
            ("first: 100, no totalCount", {"first": 100}, PAGE_UNCOUNTED),
            ("deep page, no totalCount", {"first": 100, "after": deep_cursor}, PAGE_UNCOUNTED),
        ]
        results = []
        for name, variables, document in cases:
            results.append((name, await timed(lambda v=variables, d=document: query(v, d), iterations)))  # type: ignore[misc]
        await http.aclose()
        await services.aclose()
        return results


async def run(count: int, iterations: int, backends: list[str]) -> None:
    print(f"assessmentOrders through the GraphQL app (ASGI transport), {count:,} orders, {iterations} iterations")
    table: list[tuple[str, str, list[float]]] = []
    for backend in backends:
        found = await bench_backend(backend, count, iterations)
        table += [(backend, name, samples) for name, samples in found or []]
    print(f"{'backend':<10}{'query':<40}{'p50 ms':>10}{'p99 ms':>10}")
    for backend, name, samples in table:
        print(f"{backend:<10}{name:<40}{pct(samples, 50):>10.2f}{pct(samples, 99):>10.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    asyncio.run(run(args.orders, args.iterations, backends))


if __name__ == "__main__":
    main()
