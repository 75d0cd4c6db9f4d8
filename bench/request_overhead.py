"""Per-request cost of the edge for the smallest operation, `{ __typename }`, with tracing off.

    .venv/bin/python -m bench.request_overhead [--iterations N]

Over httpx's ASGI transport against the sandbox service on a SQLite file; nobody scrapes
/metrics. Prints the median and p95 in milliseconds, and the process's CPU time per request (steadier than
wall time on a busy machine). Prints figures; not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import build_services, create_app
from bench.timing import pct, timed
from sandbox import create_sandboxes
from server.metrics import Metrics
from server.request_context import RequestMiddleware, current_request
from server.settings import sandbox_settings


async def run(iterations: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = sandbox_settings(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
        services = await build_services(settings, sandboxes=create_sandboxes())
        transport = httpx.ASGITransport(app=create_app(services))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:

            async def call() -> None:
                response = await http.post("/graphql", json={"query": "{ __typename }"})
                assert response.status_code == 200, response.text

            cpu_start = time.process_time()
            samples = await timed(call, iterations, warmup=200)
            cpu = (time.process_time() - cpu_start) / (iterations + 200) * 1000
        await services.aclose()
    print(f"{{ __typename }} x{iterations}: median {statistics.median(samples):.3f} ms, "
          f"p95 {pct(samples, 95):.3f} ms, CPU {cpu:.3f} ms per request")  # fmt: skip


async def middleware_cost(n: int = 50_000) -> float:
    """CPU microseconds the request middleware and the GraphQL metric add to one request."""

    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        info = current_request()
        if info is not None:
            info.operation, info.outcome = "Q", "ok"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    scope = {"type": "http", "method": "POST", "path": "/graphql", "headers": []}

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        return None

    async def cpu(app: ASGIApp) -> float:
        start = time.process_time()
        for _ in range(n):
            await app(scope, receive, send)
        return (time.process_time() - start) / n * 1e6

    return await cpu(RequestMiddleware(endpoint, Metrics())) - await cpu(endpoint)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=3000)
    asyncio.run(run(parser.parse_args().iterations))
    print(f"request middleware and metrics: {asyncio.run(middleware_cost()):.1f} us CPU per request")


if __name__ == "__main__":
    main()
