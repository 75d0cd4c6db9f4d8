"""Signed Kombo webhook intake per worker: requests/s and p50/p99 of POST /webhooks/sandbox-kombo.

    .venv/bin/python -m bench.webhook_intake [--requests 2000] [--concurrency 1,8] [--backend sqlite|postgres|both]

One worker = one process and one event loop serving the app (in-process, httpx's ASGI transport). Each
request is a new `assessment:order-received` event for a new order, signed as Kombo signs
(X-Kombo-Signature = base64url HMAC-SHA256 of the raw body, no padding; shared/providers.md §2.7);
bodies are built and signed before the clock starts, so the figures are the service's cost: verify,
parse, translate, record the event and its order in one transaction. `--concurrency` lists how many
requests are kept in flight at once on that one worker. The store starts empty (no seed); PostgreSQL
uses a fresh database (see bench.order_list), skipped when unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import statistics
import time
from dataclasses import dataclass

import httpx

from app import create_app
from bench.order_list import database, unseeded_services
from bench.timing import pct
from store import OrderFilter

CONNECTION = "sandbox-kombo"
PATH = f"/webhooks/{CONNECTION}"


def kombo_event(n: int, run: str) -> dict[str, object]:
    order = {
        "id": f"{run}-order-{n:06d}", "package_id": f"pkg-{n % 20}", "status": "OPEN",
        "integration_id": "greenhouse:sandbox1",
        "candidate": {"remote_id": f"cand-{n}", "email": f"candidate.{n}@example.com", "first_name": "Ada",
                      "last_name": "Lovelace", "phone": "+44 20 7946 0000"},
        "application": {"remote_id": f"app-{n}"},
        "job": {"remote_id": f"job-{n % 50}", "name": "Frontend Engineer", "job_code": "FE-1",
                "location": {"city": "Berlin", "country": "DE"}},
    }  # fmt: skip
    return {"id": f"{run}-evt-{n:06d}", "type": "assessment:order-received", "data": order}


def signed(body: dict[str, object], secret: str) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body, separators=(",", ":")).encode()
    digest = hmac.new(secret.encode(), raw, hashlib.sha256).digest()
    signature = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    return raw, {"content-type": "application/json", "x-kombo-signature": signature}


@dataclass
class Run:
    concurrency: int
    requests: int
    seconds: float
    latencies_ms: list[float]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


async def post_all(http: httpx.AsyncClient, requests: list[tuple[bytes, dict[str, str]]], concurrency: int) -> Run:
    """Send every request, `concurrency` at a time; each must be accepted as a new order."""
    queue = iter(requests)
    latencies: list[float] = []

    async def lane() -> None:
        for raw, headers in queue:
            start = time.perf_counter()
            response = await http.post(PATH, content=raw, headers=headers)
            latencies.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, response.text
            assert response.json() == {"status": "ok", "orders": 1, "duplicate": False}, response.text

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return Run(concurrency, len(requests), time.perf_counter() - started, latencies)


async def bench_backend(backend: str, count: int, levels: list[int]) -> list[Run] | None:
    async with database(backend, "bench_webhook_intake") as url:
        if url is None:
            return None
        services = await unseeded_services(url)
        secret = services.context.connections[CONNECTION].webhook_secret
        assert secret, "the sandbox Kombo connection has no webhook secret"
        transport = httpx.ASGITransport(app=create_app(services))
        runs: list[Run] = []
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            warm = [signed(kombo_event(n, "warm"), secret) for n in range(50)]
            await post_all(http, warm, 1)
            for level in levels:
                batch = [signed(kombo_event(n, f"c{level}"), secret) for n in range(count)]
                runs.append(await post_all(http, batch, level))
        stored = await services.store.list_orders(OrderFilter(connection_ids=(CONNECTION,)), first=1)
        assert stored.total_count == 50 + count * len(levels), stored.total_count
        await services.aclose()
        return runs


async def run(count: int, levels: list[int], backends: list[str]) -> None:
    print(f"signed Kombo webhook intake, one worker (in-process ASGI), {count:,} new orders per run")
    table: list[tuple[str, Run]] = []
    for backend in backends:
        table += [(backend, r) for r in await bench_backend(backend, count, levels) or []]
    print(f"{'backend':<10}{'in flight':>10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
    for backend, r in table:
        print(f"{backend:<10}{r.concurrency:>10}{r.per_second:>10.0f}{pct(r.latencies_ms, 50):>10.2f}"
              f"{pct(r.latencies_ms, 99):>10.2f}{statistics.fmean(r.latencies_ms):>10.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per concurrency level")
    parser.add_argument("--concurrency", default="1,8", help="comma-separated in-flight levels")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    args = parser.parse_args()
    levels = [int(level) for level in args.concurrency.split(",")]
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    asyncio.run(run(args.requests, levels, backends))


if __name__ == "__main__":
    main()
