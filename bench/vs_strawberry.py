"""The service against plain Strawberry (the floor), over real HTTP, with autocannon as the load.

    .venv/bin/python -m bench.vs_strawberry [--db sqlite|postgres|both] [--quick]

Needs the Node packages of the interop tests (`cd tests/interop && npm ci`), which lock autocannon.
Per database: a trivial provider answering 200 at once (bench.fast_provider); the service started as
a user starts it (`python app.py` with a configuration: one StackOne connection pointed at that
provider, the database, one API-key client); 100 orders received by signed StackOne webhooks; the
floor (bench.floor_app) serving the edges the service answered for those 100 orders. Each path runs
autocannon with one connection for 5 s (1 s with --quick) per side, in five turns of a fifth each, the
two sides alternating, so a slow spell of a shared machine falls on both sides alike. Then the
service's RSS once 2,000 mutations have been served (topped up 4 at a time), and new signed StackOne webhooks with 4 in flight.
PostgreSQL is a fresh database on BENCH_PG_ADMIN_URL (default postgresql://postgres@127.0.0.1:5432/postgres),
dropped afterwards. Prints the table with ratios and targets.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.order_list import database
from bench.processes import ROOT, Service, load, started
from providers.stackone.webhooks import signature
from sandbox import StackOneSandbox

API_KEY = "bench-api-key"
SECRET = "bench-webhook-secret"
ACCOUNT = "bench-account"
CONNECTION = "bench-stackone"
PLACEHOLDER = "@N@"
NODE = ("id provider providerOrderId status providerStatus package { id name } "
        "candidate { name firstName lastName emails phones profileUrl } job { title code location } createdAt updatedAt")  # fmt: skip
PAGE = f"query Page($first: Int!) {{ assessmentOrders(first: $first) {{ edges {{ cursor node {{ {NODE} }} }} " \
       "pageInfo { hasNextPage endCursor } } }"  # fmt: skip
MUTATION = "mutation Write($input: UpdateAssessmentResultInput!) { updateAssessmentResult(input: $input) { delivery { state } } }"
TARGETS = {"{ __typename }": 1.2, "page of 5 orders": 1.5, "page of 100 orders": 1.25, "updateAssessmentResult": 2.0}
WEBHOOK_TARGET = {"sqlite": 600, "postgres": 1000}
RSS_TARGET_MB = 120
RSS_AFTER = 2000
SLICES = 5  # each side's seconds of a path, run in this many turns, the sides alternating


@dataclass
class Figures:
    backend: str
    paths: dict[str, tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)  # service, floor
    rss_mb: float = 0.0
    webhooks: dict[str, Any] = field(default_factory=dict)


def config(url: str, provider_url: str) -> str:
    digest = hashlib.sha256(API_KEY.encode()).hexdigest()
    return f"""
[service]
database_url = "{url}"

[[connections]]
id = "{CONNECTION}"
provider = "stackone"
base_url = "{provider_url}"
api_key = "bench-provider-key"
account_id = "{ACCOUNT}"
webhook_secret = "{SECRET}"

[[clients]]
name = "bench"
api_key_sha256 = ["{digest}"]
scopes = ["orders:read", "results:write"]
connections = ["*"]
"""


def webhook_template() -> str:
    """A StackOne `ats_assessments.created` body for a new order, its ids replaced by PLACEHOLDER."""
    box = StackOneSandbox(account_id=ACCOUNT)
    order = box.create_order()
    text = json.dumps(box.webhook_body(order["id"], "created", "evt"), separators=(",", ":"))
    return text.replace(order["id"], PLACEHOLDER).replace('"id":"evt"', f'"id":"evt-{PLACEHOLDER}"')


async def receive_orders(http: httpx.AsyncClient, count: int) -> None:
    template = webhook_template()
    for n in range(count):
        raw = template.replace(PLACEHOLDER, f"seed-{n:03d}").encode()
        headers = {"content-type": "application/json", "x-stackone-signature": signature(SECRET, raw)}
        response = await http.post(f"/webhooks/{CONNECTION}", content=raw, headers=headers)
        assert response.status_code == 200 and response.json()["orders"] == 1, response.text


def graphql_body(document: str, variables: dict[str, Any] | None = None) -> str:
    return json.dumps({"query": document, **({"variables": variables} if variables else {})})


def cases(order_id: str) -> dict[str, str]:
    result = {"orderId": order_id, "status": "COMPLETED", "score": {"value": 80, "max": 100},
              "summary": "Test is passed", "completedAt": "2026-11-01T10:00:00Z"}  # fmt: skip
    return {
        "{ __typename }": graphql_body("{ __typename }"),
        "page of 5 orders": graphql_body(PAGE, {"first": 5}),
        "page of 100 orders": graphql_body(PAGE, {"first": 100}),
        "updateAssessmentResult": graphql_body(MUTATION, {"input": result}),
    }


async def check(http: httpx.AsyncClient, url: str, body: str, headers: dict[str, str]) -> dict[str, Any]:
    """One request before the load: it must answer data without errors (a mutation: DELIVERED)."""
    answer = (await http.post(url, content=body, headers=headers)).json()
    assert "errors" not in answer and answer.get("data"), answer
    written = answer["data"].get("updateAssessmentResult")
    assert written is None or written["delivery"]["state"] == "DELIVERED", answer
    return answer["data"]  # type: ignore[no-any-return]


async def bench_backend(backend: str, seconds: float, work: Path) -> Figures | None:
    async with database(backend, "bench_vs_strawberry") as url:
        if url is None:
            return None
        figures = Figures(backend)
        async with started(work, ["-m", "bench.fast_provider"]) as provider:
            (work / "gateway.toml").write_text(config(url, provider.url))
            env = {"GATEWAY_CONFIG": str(work / "gateway.toml")}
            async with started(work, [str(ROOT / "app.py")], env, health="/health") as service:
                await run_paths(figures, service, provider, work, seconds)
        return figures


async def run_paths(figures: Figures, service: Service, provider: Service, work: Path, seconds: float) -> None:
    json_headers = {"content-type": "application/json", "accept": "application/json"}
    service_headers = {**json_headers, "x-api-key": API_KEY}
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as http:
        await receive_orders(http, 100)
        page = await check(http, "/graphql", graphql_body(PAGE, {"first": 100}), service_headers)
    edges = page["assessmentOrders"]["edges"]
    assert len(edges) == 100, len(edges)
    (work / "orders.json").write_text(json.dumps(edges))
    floor_args = ["-m", "bench.floor_app", "--orders", str(work / "orders.json"), "--provider", provider.url]
    mutations = 0
    async with started(work, floor_args, health=None) as floor:
        async with httpx.AsyncClient(timeout=30) as http:
            for name, body in cases(edges[0]["node"]["id"]).items():
                pair = ((service, service_headers), (floor, json_headers))
                for side, headers in pair:
                    await check(http, f"{side.url}/graphql", body, headers)
                sums = [dict.fromkeys(("requests", "seconds", "cpu", "providerCpu"), 0.0) for _ in pair]
                for _ in range(SLICES):  # the sides take turns: a slow spell of the machine falls on both
                    for (side, headers), sum_ in zip(pair, sums, strict=True):
                        used = side.cpu_seconds(), provider.cpu_seconds()
                        run = await load(f"{side.url}/graphql", body, headers, duration=seconds / SLICES)
                        sum_["requests"] += run["requests"]
                        sum_["seconds"] += run["seconds"]
                        sum_["cpu"] += side.cpu_seconds() - used[0]
                        sum_["providerCpu"] += provider.cpu_seconds() - used[1]
                sides = [_per_request(sum_) for sum_ in sums]
                figures.paths[name] = (sides[0], sides[1])
                if name == "updateAssessmentResult":
                    mutations = sides[0]["requests"] + 1
    if mutations < RSS_AFTER:
        await load(f"{service.url}/graphql", cases(edges[0]["node"]["id"])["updateAssessmentResult"],
                   service_headers, amount=RSS_AFTER - mutations, connections=4)  # fmt: skip
    figures.rss_mb = service.rss_mb()
    sign = {"secret": SECRET, "header": "x-stackone-signature", "placeholder": PLACEHOLDER}
    figures.webhooks = await load(f"{service.url}/webhooks/{CONNECTION}", webhook_template(), json_headers,
                                  duration=seconds, connections=4, sign=sign)  # fmt: skip


def _per_request(sum_: dict[str, float]) -> dict[str, Any]:
    requests = max(int(sum_["requests"]), 1)
    return {"requests": requests, "msPerRequest": 1000 * sum_["seconds"] / requests,
            "cpuMs": 1000 * sum_["cpu"] / requests, "providerCpuMs": 1000 * sum_["providerCpu"] / requests}  # fmt: skip


def report(all_figures: list[Figures], seconds: float) -> None:
    print(f"\nautocannon, 1 connection, {seconds:g} s per path and side in {SLICES} turns each, the sides alternating; "
          "ms/request = connection-seconds / requests\n")  # fmt: skip
    names = [f.backend for f in all_figures]
    head = " | ".join(f"{n} service ms | {n} floor ms | {n} ratio" for n in names)
    print(f"| path | {head} | target | met ({names[0]}) |")
    print("|---" * (2 + 3 * len(names)) + "|---|")
    for path, target in TARGETS.items():
        cells, first_ratio = [], None
        for f in all_figures:
            mine, floor = f.paths[path]
            ratio = mine["msPerRequest"] / floor["msPerRequest"]
            first_ratio = ratio if first_ratio is None else first_ratio
            cells.append(f"{mine['msPerRequest']:.2f} | {floor['msPerRequest']:.2f} | {ratio:.2f}x")
        print(f"| {path} | {' | '.join(cells)} | ≤ {target}x | {'yes' if first_ratio <= target else 'NO'} |")
    print("\nCPU per request (user + system, all threads) of the process serving it, and of the provider stub:\n")
    print("| path | " + " | ".join(f"{n} service CPU ms | {n} floor CPU ms | {n} provider CPU ms (service / floor)"
                                   for n in names) + " |")  # fmt: skip
    print("|---" * (1 + 3 * len(names)) + "|")
    for path in TARGETS:
        cells = []
        for f in all_figures:
            mine, floor = f.paths[path]
            cells.append(f"{mine['cpuMs']:.2f} | {floor['cpuMs']:.2f} | "
                         f"{mine['providerCpuMs']:.2f} / {floor['providerCpuMs']:.2f}")  # fmt: skip
        print(f"| {path} | {' | '.join(cells)} |")
    print()
    for f in all_figures:
        rate, target = f.webhooks["rps"], WEBHOOK_TARGET[f.backend]
        print(f"| signed StackOne webhooks, 4 in flight ({f.backend}) | {rate:.0f}/s "
              f"(p99 {f.webhooks['p99Ms']:.1f} ms) | ≥ {target}/s | {'yes' if rate >= target else 'NO'} |")  # fmt: skip
    for f in all_figures:
        met = "yes" if f.rss_mb <= RSS_TARGET_MB else "NO"
        print(f"| RSS after {RSS_AFTER:,} mutations ({f.backend}) | {f.rss_mb:.0f} MB | ≤ {RSS_TARGET_MB} MB | {met} |")


async def main(backends: list[str], seconds: float) -> None:
    found = []
    for backend in backends:
        with tempfile.TemporaryDirectory() as tmp:
            figures = await bench_backend(backend, seconds, Path(tmp))
        if figures is not None:
            found.append(figures)
            if len(backends) > 1:
                report([figures], seconds)  # each database's figures as soon as they are in
    if found:
        report(found, seconds)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--quick", action="store_true", help="1 s per path and side instead of 5 s")
    args = parser.parse_args()
    asyncio.run(main(["sqlite", "postgres"] if args.db == "both" else [args.db], 1.0 if args.quick else 5.0))
