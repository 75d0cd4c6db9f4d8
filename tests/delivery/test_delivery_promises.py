"""Promises the documentation makes about delivery, pinned: a repeat of a FAILED write with the same
key sends it again; the documented defaults (the `[delivery]` block, the per-provider timeouts) are
the ones the code uses; the backoff grows, is capped, is jittered and waits for Retry-After."""

from __future__ import annotations

import asyncio
import random
import re
import tomllib

import httpx
import pytest

from app import Services
from providers.connections import Connection
from providers.guard import DEFAULT_LIMITS, limits_for
from providers.models import ProviderName
from resolvers.dispatch import DeliveryPolicy, Dispatch
from sandbox import Sandboxes, create_sandbox_app
from tests.conftest import GraphQLClient
from tests.delivery.test_delivery_faults import WRITE, result_input
from tests.processes import ROOT
from tests.test_graphql_results import find_order, refuse_kombo_key, swap_adapter

PROVIDER_NAMES = {"StackOne": ProviderName.STACKONE, "Kombo": ProviderName.KOMBO, "Unified.to": ProviderName.UNIFIED_TO}


def documentation() -> str:
    """The README and every page under docs/ (the reference may live in either)."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return "\n".join(p.read_text() for p in pages if p.is_file())


def documented_delivery_defaults() -> dict[str, float]:
    block = re.search(r"```toml\n(\[delivery\][^\n]*defaults[^\n]*\n.*?)```", documentation(), re.S)
    assert block, "the documented [delivery] defaults block is missing"
    return dict(tomllib.loads(block.group(1))["delivery"])


def documented_timeouts() -> dict[ProviderName, set[tuple[float, float, float, int]]]:
    """Every documented row per provider (connect, read, whole call, writes in flight): where the
    table appears more than once, every copy must say the same."""
    rows = re.findall(
        r"^\| (StackOne|Kombo|Unified\.to) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| (\d+) \|", documentation(), re.M
    )
    found: dict[ProviderName, set[tuple[float, float, float, int]]] = {}
    for r in rows:
        found.setdefault(PROVIDER_NAMES[r[0]], set()).add((float(r[1]), float(r[2]), float(r[3]), int(r[4])))
    assert set(found) == set(ProviderName), "the documented per-provider timeout table is missing"
    return found


def test_documented_delivery_defaults_are_the_code_defaults() -> None:
    documented = documented_delivery_defaults()
    defaults = DeliveryPolicy().model_dump()
    # every setting is documented, with the value the code uses
    assert set(documented) == set(defaults)
    assert {k: float(v) for k, v in documented.items()} == {k: float(v) for k, v in defaults.items()}


@pytest.mark.parametrize("provider", list(ProviderName))
def test_documented_timeouts_are_what_a_connection_gets(provider: ProviderName) -> None:
    connection = Connection(id="c", provider=provider, base_url="http://p", api_key="k")
    limits = limits_for(connection)
    assert documented_timeouts()[provider] == {(limits.connect, limits.read, limits.call, limits.max_in_flight)}
    assert limits == DEFAULT_LIMITS[provider]


async def test_the_client_and_guard_use_the_connection_defaults(services: Services) -> None:
    # the service built with no timeouts configured: its HTTP clients and guards carry the defaults
    for connection in services.settings.connections:
        ((connect, read, call, in_flight),) = documented_timeouts()[connection.provider]
        adapter = services.context.adapters[connection.id]
        timeout = adapter._client.timeout  # type: ignore[attr-defined]
        assert (timeout.connect, timeout.read) == (connect, read)
        guard = services.context.dispatch.guard(connection)
        assert (guard.limits.call, guard.limits.max_in_flight) == (call, in_flight)


async def test_the_mutation_waits_the_default_deadline_then_answers_pending(
    gql: GraphQLClient, services: Services
) -> None:
    # given a provider that never answers on its own, and the default policy
    called, answer = asyncio.Event(), asyncio.Event()

    async def never_answers(request: httpx.Request) -> httpx.Response:
        called.set()
        await answer.wait()
        return httpx.Response(200, json={})

    deadline = DeliveryPolicy().mutation_deadline_seconds
    assert (
        services.context.dispatch.policy.mutation_deadline_seconds
        == deadline
        == documented_delivery_defaults()["mutation_deadline_seconds"]
    )
    swap_adapter(services, services.context.connections["sandbox-kombo"], httpx.MockTransport(never_answers))
    order = await find_order(gql, "KOMBO")
    # when a result is written
    loop = asyncio.get_running_loop()
    started = loop.time()
    body = await asyncio.wait_for(gql(WRITE, {"input": result_input(order["id"], "waits")}), deadline * 6)
    # then the mutation answered PENDING while the call was still open, after at least the deadline
    assert body["data"]["updateAssessmentResult"]["delivery"]["state"] == "PENDING", body
    assert called.is_set() and not answer.is_set()
    assert loop.time() - started >= deadline
    answer.set()


async def test_a_repeat_of_a_failed_write_with_the_same_key_sends_it_again(
    gql: GraphQLClient, services: Services, sandboxes: Sandboxes
) -> None:
    # given a write refused for good (the key is wrong): FAILED
    good = services.context.connections["sandbox-kombo"]
    refuse_kombo_key(services, sandboxes)
    order = await find_order(gql, "KOMBO")
    written = {**result_input(order["id"], "again"), "idempotencyKey": "failed-once"}
    first = await gql(WRITE, {"input": written})
    assert first["errors"][0]["extensions"]["code"] == "PROVIDER_AUTH_FAILED"
    puts = [r for r in sandboxes.kombo.received if r.method == "PUT"]
    assert len(puts) == 1
    # when the credentials are fixed and the caller repeats the same input with the same key
    swap_adapter(services, good, httpx.ASGITransport(app=create_sandbox_app(sandboxes)))
    again = (await gql(WRITE, {"input": written}))["data"]["updateAssessmentResult"]
    # then that same result is sent again, and delivered
    assert again["delivery"]["state"] == "DELIVERED"
    assert len([r for r in sandboxes.kombo.received if r.method == "PUT"]) == 2
    assert sandboxes.kombo.results[order["providerOrderId"]]["status"] == "COMPLETED"
    # and a third repeat is the delivered result: no third write
    third = (await gql(WRITE, {"input": written}))["data"]["updateAssessmentResult"]
    assert third["result"]["id"] == again["result"]["id"]
    assert len([r for r in sandboxes.kombo.received if r.method == "PUT"]) == 2


def backoffs(
    policy: DeliveryPolicy, attempts: int, samples: int = 400, retry_after: float | None = None
) -> list[float]:
    dispatch = Dispatch(policy=policy, rng=random.Random(attempts))
    return [dispatch.backoff(attempts, retry_after).total_seconds() for _ in range(samples)]


def test_backoff_doubles_from_the_base_up_to_the_cap_with_half_of_it_random() -> None:
    policy = DeliveryPolicy(base_delay_seconds=1, max_delay_seconds=20)
    for attempts, ceiling in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 16), (6, 20), (12, 20), (60, 20)]:
        delays = backoffs(policy, attempts)
        # within [ceiling/2, ceiling]: never more than the cap, never less than half
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (attempts, min(delays), max(delays))
        # jittered: spread over the whole half, not one value
        assert min(delays) < ceiling * 0.55 and max(delays) > ceiling * 0.95, (attempts, min(delays), max(delays))
        assert len(set(delays)) > len(delays) // 2


def test_backoff_never_sooner_than_retry_after() -> None:
    policy = DeliveryPolicy(base_delay_seconds=1, max_delay_seconds=20)
    assert all(d == 30 for d in backoffs(policy, 1, retry_after=30))  # beyond the cap too
    assert all(3 <= d <= 4 for d in backoffs(policy, 3, retry_after=3))


def test_two_instances_draw_different_delays() -> None:
    # the jitter is per instance, so instances that failed together do not retry together
    first, second = Dispatch(), Dispatch()
    assert [first.backoff(3, None) for _ in range(5)] != [second.backoff(3, None) for _ in range(5)]
