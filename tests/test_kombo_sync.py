"""Kombo order sync and its poller, against the sandbox Kombo, with faults injected in front of it."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import Services, build_services, create_app
from providers.errors import ErrorCode
from providers.kombo.client import KomboProvider
from providers.models import OrderRef, ProviderName
from resolvers.context import AppContext
from resolvers.sync import MAX_RATE_LIMIT_RETRIES, OVERLAP, sync_connection
from sandbox import Sandboxes, create_sandbox_app
from server.poller import Poller
from server.settings import sandbox_settings
from store.interface import OrderFilter
from tests.conftest import FIXED_NOW, GraphQLClient

KOMBO = "sandbox-kombo"
KOMBO_FILTER = OrderFilter(providers=(ProviderName.KOMBO,))
Fault = Callable[[int, httpx.Request], Awaitable[httpx.Response | None]]

SYNC = """
mutation($id: ID!) {
  syncConnection(connectionId: $id) { connectionId pagesRead ordersSeen finished alreadyRunning errorCode }
}
"""
LIST = "query { assessmentOrders(first: 100, filter: {providers: [KOMBO]}) { totalCount edges { node { id } } } }"


class FaultyKombo:
    """Forwards to the sandbox Kombo unless `fault(n, request)` (n counts from 1) returns a response."""

    def __init__(self, sandboxes: Sandboxes, fault: Fault | None = None) -> None:
        self.sandbox = httpx.ASGITransport(app=create_sandbox_app(sandboxes))
        self.fault = fault
        self.requests: list[httpx.Request] = []

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = await self.fault(len(self.requests), request) if self.fault else None
        return answer if answer is not None else await self.sandbox.handle_async_request(request)

    def cursors(self) -> list[str | None]:
        return [r.url.params.get("cursor") for r in self.requests]


def kombo_error(status: int, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    error = {"code": code, "title": "Error", "message": "simulated", "log_url": "https://app.kombo.dev/logs/x"}
    return httpx.Response(status, json={"status": "error", "error": error}, headers=headers)


@pytest.fixture
async def unseeded(tmp_path: Path, sandboxes: Sandboxes) -> AsyncIterator[Services]:
    """The service around the sandboxes with an empty order record."""
    built = await build_services(
        sandbox_settings(f"sqlite+aiosqlite:///{tmp_path / 'sync.db'}"), sandboxes=sandboxes, seed=False
    )
    built.context.clock = lambda: FIXED_NOW
    yield built
    await built.aclose()


@pytest.fixture
async def clients() -> AsyncIterator[list[httpx.AsyncClient]]:
    made: list[httpx.AsyncClient] = []
    yield made
    for client in made:
        await client.aclose()


def through(
    services: Services, transport: FaultyKombo, clients: list[httpx.AsyncClient], **connection: Any
) -> AppContext:
    """The service's context with the Kombo connection reached through `transport`."""
    kombo = services.context.connections[KOMBO].model_copy(update=connection)
    client = httpx.AsyncClient(transport=httpx.MockTransport(transport.handle), base_url=kombo.base_url)
    clients.append(client)
    return dataclasses.replace(
        services.context,
        connections={**services.context.connections, KOMBO: kombo},
        adapters={**services.context.adapters, KOMBO: KomboProvider(kombo, client)},
    )


async def stored_kombo_ids(ctx: AppContext) -> set[str]:
    page = await ctx.store.list_orders(KOMBO_FILTER, first=100)
    return {o.provider_order_id for o in page.orders}


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


# --------------------------------------------------------------------------- full sync and windows


async def test_full_sync_pages_to_the_end_and_orders_show_in_graphql(
    unseeded: Services, sandboxes: Sandboxes
) -> None:
    # given an empty record and six orders in the sandbox Kombo
    assert await stored_kombo_ids(unseeded.context) == set()
    # when a first sync reads them two by two
    report = await sync_connection(unseeded.context, KOMBO, page_size=2)
    # then every page was read and every order recorded
    assert (report.pages_read, report.orders_seen, report.finished, report.error_code) == (3, 6, True, None)
    assert not report.resumed and not report.already_running
    assert await stored_kombo_ids(unseeded.context) == set(sandboxes.kombo.orders)
    state = await unseeded.store.get_sync_state(KOMBO)
    assert state is not None
    assert (state.cursor, state.lease_until, state.last_error) == (None, None, None)
    assert state.created_after == state.last_finished_at == FIXED_NOW
    assert state.orders_seen == 6
    # and the first run asked for everything (no created_after)
    listed = [r for r in sandboxes.kombo.received if r.path.endswith("/assessment/orders")]
    assert len(listed) == 3 and all("created_after" not in r.query for r in listed)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(unseeded)),
                                 base_url="http://gateway.test") as http:  # fmt: skip
        body = await GraphQLClient(http)(LIST)
    assert body["data"]["assessmentOrders"]["totalCount"] == 6


async def test_next_run_reads_from_the_previous_start_minus_the_overlap(
    unseeded: Services, sandboxes: Sandboxes
) -> None:
    # given a finished first run, then an order created after it started
    await sync_connection(unseeded.context, KOMBO)
    sandboxes.kombo.clock = lambda: FIXED_NOW + timedelta(minutes=1)
    new = sandboxes.kombo.create_order({"email": "late@example.com"})
    sandboxes.kombo.received.clear()
    # when the next run starts
    unseeded.context.clock = lambda: FIXED_NOW + timedelta(hours=1)
    report = await sync_connection(unseeded.context, KOMBO)
    # then it asks only for the window since the previous start (minus the overlap) and sees the new order
    (request,) = sandboxes.kombo.received
    assert request.query["created_after"] == [(FIXED_NOW - OVERLAP).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"]
    assert (report.orders_seen, report.finished) == (1, True)
    assert new["id"] in await stored_kombo_ids(unseeded.context)
    state = await unseeded.store.get_sync_state(KOMBO)
    assert state is not None and state.created_after == FIXED_NOW + timedelta(hours=1)


async def test_kombo_version_replaces_the_order_on_record(services: Services, sandboxes: Sandboxes) -> None:
    # given a seeded record, then Kombo cancels an order
    order_id = next(oid for oid, o in sandboxes.kombo.orders.items() if o["status"] == "OPEN")
    sandboxes.kombo.orders[order_id]["status"] = "CANCELLED"
    # when the sync runs
    await sync_connection(services.context, KOMBO)
    # then the record holds Kombo's status
    stored = (await services.store.get_orders([OrderRef(KOMBO, order_id)]))[OrderRef(KOMBO, order_id)]
    assert stored.provider_status == "CANCELLED"


# --------------------------------------------------------------------------- faults


async def test_a_run_failing_half_way_keeps_page_one_and_the_next_run_resumes(
    unseeded: Services, sandboxes: Sandboxes, clients: list[httpx.AsyncClient]
) -> None:
    # given Kombo failing with 500 on the second page
    async def second_page_fails(n: int, request: httpx.Request) -> httpx.Response | None:
        return kombo_error(500, "PLATFORM.UNKNOWN_ERROR") if n == 2 else None

    failing = FaultyKombo(sandboxes, second_page_fails)
    # when the first run hits it
    report = await sync_connection(through(unseeded, failing, clients), KOMBO, page_size=2)
    # then it reports the code, kept page one and saved where it stopped, lease released
    assert (report.pages_read, report.orders_seen, report.finished) == (1, 2, False)
    assert report.error_code == ErrorCode.PROVIDER_UNAVAILABLE
    assert len(await stored_kombo_ids(unseeded.context)) == 2
    state = await unseeded.store.get_sync_state(KOMBO)
    assert state is not None and state.cursor is not None and state.lease_until is None
    assert state.last_error == ErrorCode.PROVIDER_UNAVAILABLE and state.last_finished_at is None
    saved_cursor = state.cursor
    # when the next run goes through a healthy Kombo
    healthy = FaultyKombo(sandboxes)
    report = await sync_connection(through(unseeded, healthy, clients), KOMBO, page_size=2)
    # then it resumes from the saved cursor, never re-reads page one, and finishes
    assert report.resumed and report.finished and report.error_code is None
    assert (report.pages_read, report.orders_seen) == (2, 4)
    assert healthy.cursors()[0] == saved_cursor and None not in healthy.cursors()
    assert await stored_kombo_ids(unseeded.context) == set(sandboxes.kombo.orders)
    state = await unseeded.store.get_sync_state(KOMBO)
    assert state is not None and (state.cursor, state.last_error, state.orders_seen) == (None, None, 6)


async def test_429_waits_retry_after_then_backs_off_exponentially_and_retries_the_same_page(
    unseeded: Services, sandboxes: Sandboxes, clients: list[httpx.AsyncClient]
) -> None:
    # given Kombo rate limiting the second page twice: once with Retry-After, once without
    async def limited(n: int, request: httpx.Request) -> httpx.Response | None:
        if n == 2:
            return kombo_error(429, "PLATFORM.RATE_LIMIT_EXCEEDED", {"Retry-After": "7"})
        return kombo_error(429, "PLATFORM.RATE_LIMIT_EXCEEDED") if n == 3 else None

    kombo, sleeps = FaultyKombo(sandboxes, limited), Sleeps()
    # when the sync runs
    report = await sync_connection(through(unseeded, kombo, clients), KOMBO, page_size=2, sleep=sleeps)
    # then it waited as told, then 2 s plus jitter (second try of that page), asked for the same page again
    assert sleeps[0] == 7.0 and 2.0 <= sleeps[1] <= 3.0 and len(sleeps) == 2
    assert kombo.cursors()[1] == kombo.cursors()[2] == kombo.cursors()[3] is not None
    assert report.finished and (report.pages_read, report.orders_seen) == (3, 6)


async def test_429_without_end_stops_after_the_retry_budget_and_stays_resumable(
    unseeded: Services, sandboxes: Sandboxes, clients: list[httpx.AsyncClient]
) -> None:
    # given Kombo rate limiting everything after the first page
    async def always_limited(n: int, request: httpx.Request) -> httpx.Response | None:
        return kombo_error(429, "PLATFORM.RATE_LIMIT_EXCEEDED") if n > 1 else None

    sleeps = Sleeps()
    ctx = through(unseeded, FaultyKombo(sandboxes, always_limited), clients)
    # when the sync runs
    report = await sync_connection(ctx, KOMBO, page_size=2, sleep=sleeps)
    # then it backed off 1, 2, 4, 8, 16 s (each with up to 50 % jitter) and gave up with the code
    assert len(sleeps) == MAX_RATE_LIMIT_RETRIES
    assert all(2**i <= s <= 1.5 * 2**i for i, s in enumerate(sleeps))
    assert report.error_code == ErrorCode.PROVIDER_RATE_LIMITED and not report.finished
    state = await unseeded.store.get_sync_state(KOMBO)
    assert state is not None and state.cursor is not None and state.lease_until is None


async def test_concurrent_syncs_never_overlap(
    unseeded: Services, sandboxes: Sandboxes, clients: list[httpx.AsyncClient]
) -> None:
    # given a sync held inside its first request
    entered, release = asyncio.Event(), asyncio.Event()

    async def gate(n: int, request: httpx.Request) -> None:
        entered.set()
        await release.wait()

    ctx = through(unseeded, FaultyKombo(sandboxes, gate), clients)
    first = asyncio.create_task(sync_connection(ctx, KOMBO))
    await asyncio.wait_for(entered.wait(), 5)
    # when a second sync starts meanwhile
    second = await sync_connection(ctx, KOMBO)
    # then it does nothing and says so, while the first one finishes normally
    assert second.already_running and (second.pages_read, second.finished) == (0, False)
    release.set()
    done = await first
    assert done.finished and not done.already_running and done.orders_seen == 6
    # and once the lease is released the next sync runs
    assert not (await sync_connection(ctx, KOMBO)).already_running


# --------------------------------------------------------------------------- GraphQL


async def test_mutation_syncs_and_reports(gql: GraphQLClient) -> None:
    body = await gql(SYNC, {"id": KOMBO})
    assert "errors" not in body
    assert body["data"]["syncConnection"] == {
        "connectionId": KOMBO, "pagesRead": 1, "ordersSeen": 6, "finished": True,
        "alreadyRunning": False, "errorCode": None,
    }  # fmt: skip


async def test_mutation_shows_a_provider_error_as_a_code(
    services: Services, sandboxes: Sandboxes, clients: list[httpx.AsyncClient]
) -> None:
    async def down(n: int, request: httpx.Request) -> httpx.Response:
        return kombo_error(503, "REMOTE.SERVICE_UNAVAILABLE")

    services.context = through(services, FaultyKombo(sandboxes, down), clients)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(services)),
                                 base_url="http://gateway.test") as http:  # fmt: skip
        body = await GraphQLClient(http)(SYNC, {"id": KOMBO})
    assert "errors" not in body
    payload = body["data"]["syncConnection"]
    assert (payload["errorCode"], payload["finished"], payload["pagesRead"]) == ("PROVIDER_UNAVAILABLE", False, 0)


@pytest.mark.parametrize(
    ("_case", "connection_id", "code", "field"),
    [
        ("stackone is not synced", "sandbox-stackone", ErrorCode.UNSUPPORTED_BY_PROVIDER, None),
        ("unified.to is not synced", "sandbox-unified-to", ErrorCode.UNSUPPORTED_BY_PROVIDER, None),
        ("unknown connection", "nobody", ErrorCode.BAD_USER_INPUT, "connectionId"),
    ],
)
async def test_mutation_refuses_connections_it_cannot_sync(
    gql: GraphQLClient, _case: str, connection_id: str, code: ErrorCode, field: str | None
) -> None:
    body = await gql(SYNC, {"id": connection_id})
    assert body["data"] is None
    assert len(body["errors"]) == 1
    extensions = body["errors"][0]["extensions"]
    assert extensions["code"] == code
    assert extensions.get("field") == field


# --------------------------------------------------------------------------- poller


async def test_poller_syncs_on_its_own_and_stops_cleanly(
    unseeded: Services, sandboxes: Sandboxes, clients: list[httpx.AsyncClient]
) -> None:
    # given a Kombo connection polled every 20 ms
    ctx = through(unseeded, FaultyKombo(sandboxes), clients, sync_interval_seconds=0.02)
    poller = Poller(ctx)
    assert [c.id for c in poller.polled()] == [KOMBO]
    # when it runs for a few cycles
    await poller.start()
    async with asyncio.timeout(5):
        while poller.cycles[KOMBO] < 2:
            await asyncio.sleep(0.01)
    await poller.stop()
    # then it recorded Kombo's orders by itself and left no task behind
    assert await stored_kombo_ids(ctx) == set(sandboxes.kombo.orders)
    state = await ctx.store.get_sync_state(KOMBO)
    assert state is not None and state.last_finished_at is not None and state.lease_until is None
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("kombo-sync-")]


async def test_poller_stopped_mid_run_releases_the_lease(
    unseeded: Services, sandboxes: Sandboxes, clients: list[httpx.AsyncClient]
) -> None:
    # given a poll stuck inside its request
    entered = asyncio.Event()

    async def hang(n: int, request: httpx.Request) -> None:
        entered.set()
        await asyncio.Event().wait()

    poller = Poller(through(unseeded, FaultyKombo(sandboxes, hang), clients, sync_interval_seconds=60))
    await poller.start()
    await asyncio.wait_for(entered.wait(), 5)
    # when the service stops
    await poller.stop()
    # then the lease is free for the next instance
    state = await unseeded.store.get_sync_state(KOMBO)
    assert state is not None and state.lease_until is None


async def test_poller_skips_connections_with_interval_zero(
    unseeded: Services, sandboxes: Sandboxes, clients: list[httpx.AsyncClient]
) -> None:
    poller = Poller(through(unseeded, FaultyKombo(sandboxes), clients, sync_interval_seconds=0))
    await poller.start()
    assert poller.polled() == [] and poller.cycles == {}
    await poller.stop()
    assert await unseeded.store.get_sync_state(KOMBO) is None
