"""The same query sent as full text, as an APQ hash and as a trusted-document id.

    .venv/bin/python -m bench.persisted_queries [--iterations N] [--first N]

Over httpx's ASGI transport against the service on a SQLite file with the sandbox orders. Full
text is parsed on every request (validation is remembered by text); a persisted document is
looked up by id in the in-process cache in front of the store and was parsed and validated once.
The three paths run interleaved, so drift in the machine hits each alike. Prints figures; not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from app import build_services, create_app
from bench.timing import pct
from sandbox import create_sandboxes
from server.persisted import sha256_hex
from server.settings import DocumentSource, sandbox_settings

QUERY = """query OpenOrders($first: Int!) {
  assessmentOrders(first: $first, filter: {statuses: [OPEN, IN_PROGRESS]}) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges {
      cursor
      node {
        id provider connection { id } providerOrderId status providerStatus
        package { id name }
        candidate { firstName lastName emails phones profileUrl resumeUrl }
        job { title code location }
        result { status outcome score { value max } delivery { state providerStatusCode } }
      }
    }
  }
}"""
TRUSTED_ID = "open-orders-v1"


async def run(iterations: int, first: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / "manifest.json"
        manifest.write_text(json.dumps({"format": "apollo-persisted-query-manifest", "version": 1, "operations": [
            {"id": TRUSTED_ID, "body": QUERY, "name": "OpenOrders", "type": "query"}]}))  # fmt: skip
        settings = sandbox_settings(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}").model_copy(
            update={"persisted_documents": (DocumentSource(name="bench", path=str(manifest)),)}
        )
        services = await build_services(settings, sandboxes=create_sandboxes())
        transport = httpx.ASGITransport(app=create_app(services))
        variables = {"first": first}
        sha = sha256_hex(QUERY)
        bodies: dict[str, dict[str, Any]] = {
            "full text": {"query": QUERY, "variables": variables},
            "APQ hash": {"variables": variables, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha}}},
            "trusted document id": {"documentId": TRUSTED_ID, "variables": variables},
        }
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            await http.post("/graphql", json={**bodies["full text"], **bodies["APQ hash"]})  # register the APQ hash
            samples = await measure(http, bodies, iterations)
        await services.aclose()
    report(samples, first, len(json.dumps(bodies["full text"])), len(json.dumps(bodies["APQ hash"])))


async def measure(
    http: httpx.AsyncClient, bodies: dict[str, dict[str, Any]], iterations: int
) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in bodies}
    expected = None
    for round_ in range(iterations + 50):
        for name, body in bodies.items():
            start = time.perf_counter()
            response = await http.post("/graphql", json=body)
            elapsed = (time.perf_counter() - start) * 1000
            data = response.json()
            assert "errors" not in data, data
            expected = expected or data
            assert data == expected
            if round_ >= 50:  # warm-up rounds are not counted
                samples[name].append(elapsed)
    return samples


def report(samples: dict[str, list[float]], first: int, text_bytes: int, hash_bytes: int) -> None:
    print(f"query: OpenOrders (first: {first}); request body {text_bytes} B as text, {hash_bytes} B as hash")
    print(f"{'path':<22}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
    base = statistics.median(samples["full text"])
    for name, values in samples.items():
        rate = len(values) / (sum(values) / 1000)
        print(f"{name:<22}{rate:>9.0f}{pct(values, 50):>9.2f}{pct(values, 99):>9.2f}"
              f"   {'' if name == 'full text' else f'p50 {100 * (1 - pct(values, 50) / base):.0f}% faster'}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--first", type=int, default=5, help="orders per page (store work per request)")
    args = parser.parse_args()
    asyncio.run(run(args.iterations, args.first))


if __name__ == "__main__":
    main()
