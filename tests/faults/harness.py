"""The fault-scenario harness: its own PostgreSQL cluster, the fake provider, real `python app.py`
processes, callers that retry with idempotency keys, busy loops that starve the CPU, and the check
of every order's outcome once the scenario has settled."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from providers.connections import Connection
from providers.models import Delivery
from providers.stackone.mapping import order_from_stackone
from sandbox import SANDBOX_CREDENTIALS, StackOneSandbox
from store import create_store
from store.tables import results
from tests.delivery.own_cluster import OwnCluster
from tests.delivery.processes import Service, start_service
from tests.faults.provider import FakeProvider, served_provider
from tests.faults.report import Figures, Outcome, judge

CONNECTION = "faulty"
WRITE = """
mutation($input: UpdateAssessmentResultInput!) {
  updateAssessmentResult(input: $input) { result { id } delivery { state errorCode } }
}
"""
RETRY_CODES = frozenset({"SERVICE_UNAVAILABLE", "INTERNAL_SERVER_ERROR"})  # a caller tries again
POLICY = {
    "mutation_deadline_seconds": 1, "base_delay_seconds": 0.1, "max_delay_seconds": 1,
    "lease_margin_seconds": 2, "poll_interval_seconds": 0.2, "breaker_failures": 50,
    "breaker_cooldown_seconds": 0.5, "shutdown_grace_seconds": 1,
}  # fmt: skip


def summary(order: int, n: int) -> str:
    return f"o{order}-r{n}"


@dataclass
class Caller:
    """Writes results as a client would: the same idempotency key until an answer, the next
    service when one is gone. Remembers every answer it got."""

    urls: list[str]
    answers: Counter[str] = field(default_factory=Counter)  # error codes, HTTP statuses, delivery codes
    gave_up: list[str] = field(default_factory=list)

    async def write(self, http: httpx.AsyncClient, order_id: str, order: int, n: int, via: int) -> None:
        variables = {"input": {"orderId": order_id, "status": "COMPLETED", "score": {"value": n % 10, "max": 10},
                               "summary": summary(order, n), "idempotencyKey": f"{order_id}/{n}"}}  # fmt: skip
        deadline = time.monotonic() + 180
        tries = 0
        while time.monotonic() < deadline:
            url = self.urls[(via + tries) % len(self.urls)]
            tries += 1
            code = await self._post(http, url, variables)
            if code is None:
                return
            if code not in RETRY_CODES and not code.startswith(("transport", "http ")):
                self.gave_up.append(f"{order_id}/{n}: {code}")
                return
            await asyncio.sleep(min(0.1 * tries, 1.0))
        self.gave_up.append(f"{order_id}/{n}: no answer within 180 s")

    async def _post(self, http: httpx.AsyncClient, url: str, variables: dict[str, Any]) -> str | None:
        """None when the result was taken; else what went wrong (also counted)."""
        try:
            response = await http.post(f"{url}/graphql", json={"query": WRITE, "variables": variables})
            body = response.json()
        except (httpx.TransportError, ValueError) as exc:
            self.answers[f"transport {type(exc).__name__}"] += 1
            return f"transport {type(exc).__name__}"
        if body.get("errors"):
            code = str(body["errors"][0].get("extensions", {}).get("code"))
            self.answers[f"{code} (HTTP {response.status_code})"] += 1
            return code
        if response.status_code >= 500 or not body.get("data"):
            self.answers[f"http {response.status_code}"] += 1
            return f"http {response.status_code}"
        delivery = body["data"]["updateAssessmentResult"]["delivery"]
        self.answers[f"{delivery['state']} {delivery['errorCode'] or ''}".strip()] += 1
        return None


class Harness:
    """One scenario's world. `orders` are (global id, provider order id) pairs."""

    def __init__(self, cluster: OwnCluster, fake: FakeProvider, provider_url: str, workdir: Path) -> None:
        self.cluster, self.fake, self.provider_url, self.workdir = cluster, fake, provider_url, workdir
        self.database_url = ""
        self.orders: list[tuple[str, str]] = []
        self.services: list[Service] = []
        self.caller = Caller([])
        self.policy: dict[str, Any] = dict(POLICY)
        self.connection: dict[str, Any] = {"timeout_seconds": 3}

    async def prepare(self, count: int) -> None:
        """A fresh database holding `count` StackOne orders (as their webhooks would have recorded them)."""
        self.database_url = await asyncio.to_thread(self.cluster.create_database, f"faults_{uuid.uuid4().hex[:12]}")
        box = StackOneSandbox()
        store = create_store(self.database_url)
        try:
            await store.migrate()
            for _ in range(count):
                order = order_from_stackone(CONNECTION, box.create_order(), None)
                await store.upsert_order(order)
                self.orders.append((order.global_id, order.provider_order_id))
        finally:
            await store.close()

    def quarantine(self, seconds: float) -> None:
        """After an outcome the service could not see, nothing is sent for the order this long: set
        it just past the provider's longest processing time here (where connections have it)."""
        if "quarantine_seconds" in Connection.model_fields:
            self.connection["quarantine_seconds"] = seconds

    def config(self) -> Path:
        creds = SANDBOX_CREDENTIALS["stackone"]
        lines = [f"{k} = {v!r}" if isinstance(v, str) else f"{k} = {v}" for k, v in self.connection.items()]
        policy = "\n".join(f"{k} = {v}" for k, v in self.policy.items())
        path = self.workdir / "gateway.toml"
        path.write_text(f'[service]\ndatabase_url = "{self.database_url}"\n\n[auth]\nanonymous = true\n\n'
                        f"[delivery]\n{policy}\n\n[[connections]]\nid = \"{CONNECTION}\"\nprovider = \"STACKONE\"\n"
                        f'base_url = "{self.provider_url}"\napi_key = "{creds["api_key"]}"\n'
                        f'account_id = "{creds["account_id"]}"\n' + "\n".join(lines) + "\n")  # fmt: skip
        return path

    async def start(self, *names: str) -> list[Service]:
        """Services started at once (up to 120 s each: a starved machine starts them slowly)."""
        config = self.config()
        started = await asyncio.gather(*(start_service(config, self.workdir / f"{n}.log", 120) for n in names))
        self.services.extend(started)
        return list(started)

    def use(self, *services: Service) -> None:
        """Callers go to these services from now on."""
        self.caller.urls[:] = [s.url for s in services]

    async def probe(self, path: str) -> int:
        """The HTTP status of `path` on the first service callers use (0: no answer)."""
        try:
            async with httpx.AsyncClient(timeout=10) as http:
                return (await http.get(f"{self.caller.urls[0]}{path}")).status_code
        except httpx.TransportError:
            return 0

    @asynccontextmanager
    async def load(self, per_order: int, parallel: int = 24) -> AsyncIterator[asyncio.Task[None]]:
        """Results 1..per_order for every order (in turn per order, orders concurrently) in a task."""

        async def one_order(http: httpx.AsyncClient, index: int, gate: asyncio.Semaphore) -> None:
            async with gate:
                for n in range(1, per_order + 1):
                    await self.caller.write(http, self.orders[index][0], index, n, index)

        async def run() -> None:
            gate = asyncio.Semaphore(parallel)
            limits = httpx.Limits(max_connections=parallel + 8)
            async with httpx.AsyncClient(timeout=30, limits=limits) as http:
                await asyncio.gather(*(one_order(http, i, gate) for i in range(len(self.orders))))

        task = asyncio.create_task(run())
        try:
            yield task
        finally:
            if not task.done():
                task.cancel()

    async def until(self, check: Callable[[], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"not reached within {timeout} s")
            await asyncio.sleep(0.02)

    async def settle(self, recovered_from: float, timeout: float = 120) -> Outcome:
        """Wait until every order's newest result is delivered and the provider is idle and quiet;
        then judge. `recovered_from` is when the fault ended (monotonic)."""
        deadline = time.monotonic() + timeout
        rows: list[Any] = []
        recovered = None
        while time.monotonic() < deadline:
            rows = await self._rows()
            if rows and _all_newest_delivered(rows, len(self.orders)):
                recovered = recovered or time.monotonic() - recovered_from
                if await self._quiet():
                    break
            await asyncio.sleep(0.2)
        outcome = judge(rows, self.orders, self.fake.record, self.caller)
        outcome.figures.recover_seconds = recovered
        return outcome

    async def _quiet(self) -> bool:
        visits = len(self.fake.record.visits)
        await asyncio.sleep(0.5)
        return self.fake.record.in_flight_now() == 0 and len(self.fake.record.visits) == visits

    async def _rows(self) -> list[Any]:
        store = create_store(self.database_url)
        try:
            async with store.engine.connect() as conn:
                return list((await conn.execute(select(results).order_by(results.c.seq))).all())
        except Exception:  # the cluster may be down right now
            return []
        finally:
            await store.close()

    def close(self) -> None:
        for service in self.services:
            if service.proc.poll() is None:
                service.kill()


def _all_newest_delivered(rows: list[Any], orders: int) -> bool:
    newest: dict[str, Any] = {}
    for row in rows:
        newest[row.order_id] = row
    return len(newest) == orders and all(
        Delivery.model_validate_json(r.delivery).state == "DELIVERED" for r in newest.values()
    )


def sigterm(service: Service) -> None:
    service.proc.send_signal(signal.SIGTERM)


@contextmanager
def starved(enabled: bool) -> Iterator[None]:
    """A busy-loop process per core beside the service while the block runs."""
    loops = (
        [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(os.cpu_count() or 1)]
        if enabled
        else []
    )
    try:
        yield
    finally:
        for proc in loops:
            proc.kill()
            proc.wait()


@asynccontextmanager
async def harness(cluster: OwnCluster, workdir: Path) -> AsyncIterator[Harness]:
    with served_provider() as (fake, url):
        world = Harness(cluster, fake, url, workdir)
        try:
            yield world
        finally:
            world.close()


__all__ = ["Figures", "Harness", "Outcome", "harness", "sigterm", "starved"]
