"""Limits at the edge: body size, depth, aliases, root fields, tokens, estimated cost, rate, deadline."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from providers.errors import ErrorCode
from server.clients import ClientConfig, hash_api_key
from server.limits import Limits
from tests.server.conftest import READ_WRITE, Build, codes
from tests.test_graphql_results import swap_adapter

DEEP = "{ assessmentOrders { edges { node { result { score { value } } } } } }"  # depth 6


@pytest.mark.parametrize(
    ("_case", "limits", "query", "code"),
    [
        ("depth", Limits(max_depth=5), DEEP, ErrorCode.MAX_DEPTH_LIMIT),
        ("aliases", Limits(max_aliases=2), "{ a: __typename b: __typename c: __typename }", ErrorCode.MAX_ALIASES_LIMIT),
        ("root fields", Limits(max_root_fields=2),
         "{ assessmentOrders { totalCount } x: assessmentOrders { totalCount } y: assessmentOrders { totalCount } }",
         ErrorCode.MAX_ROOT_FIELDS_LIMIT),
        ("tokens", Limits(max_tokens=10), DEEP, ErrorCode.MAX_TOKENS_LIMIT),
        ("cost", Limits(max_cost=500), "{ assessmentOrders(first: 100) { edges { node { id candidate { emails } "
         "job { title } package { id } } } } }", ErrorCode.COST_ESTIMATED_TOO_EXPENSIVE),
    ],
)  # fmt: skip
async def test_each_limit_has_its_code(build: Build, _case: str, limits: Limits, query: str, code: ErrorCode) -> None:
    _, caller = await build(limits=limits)
    response = await caller.post({"query": query}, accept="application/graphql-response+json")
    assert (response.status_code, codes(response.json())) == (400, [code])
    # and the defaults let the same operation through
    _, relaxed = await build()
    assert "errors" not in await relaxed.query(query)


async def test_cost_counts_list_sizes_from_variables(build: Build) -> None:
    _, caller = await build(limits=Limits(max_cost=100))
    query = "query($n: Int) { assessmentOrders(first: $n) { edges { node { id candidate { emails } } } } }"
    assert "errors" not in await caller.query(query, {"n": 10})  # 1 + 10 * (1 + 1 + 1) = 31
    refused = await caller.query(query, {"n": 50})  # 151
    assert codes(refused) == [ErrorCode.COST_ESTIMATED_TOO_EXPENSIVE]
    assert refused["errors"][0]["extensions"]["cost"] == {"estimated": 151, "max": 100}


async def test_a_kept_estimate_still_follows_each_requests_variables(build: Build) -> None:
    # given one document run again and again (its estimate is kept per variable shape)
    _, caller = await build(limits=Limits(max_cost=100))
    query = "query($n: Int, $f: AssessmentOrderFilter) { assessmentOrders(first: $n, filter: $f) { edges { node { id } } } }"
    for _ in range(2):
        # then each page size is estimated as its own, whatever ran before
        assert "errors" not in await caller.query(query, {"n": 10})  # 1 + 10 * 2 = 21
        assert codes(await caller.query(query, {"n": 50})) == [ErrorCode.COST_ESTIMATED_TOO_EXPENSIVE]  # 101
        assert "errors" not in await caller.query(query, {"n": 10, "f": {"search": "a"}})
        assert "errors" not in await caller.query(query, {})  # the assumed size: 1 + 20 * 2 = 41
        # and a size out of range is refused every time, never served from a kept estimate
        assert codes(await caller.query(query, {"n": -1})) == [ErrorCode.BAD_USER_INPUT]


async def test_cost_reads_the_schemas_cost_directive(build: Build) -> None:
    _, caller = await build(limits=Limits(max_cost=9))
    refused = await caller.query('mutation { syncConnection(connectionId: "sandbox-kombo") { finished } }')
    assert refused["errors"][0]["extensions"] == {
        "code": "COST_ESTIMATED_TOO_EXPENSIVE", "cost": {"estimated": 10, "max": 9},  # @cost(weight: 10)
    }  # fmt: skip


async def test_body_size_limit_is_413(build: Build) -> None:
    _, caller = await build(limits=Limits(max_body_bytes=1000))
    response = await caller.post({"query": "{ __typename }", "variables": {"pad": "x" * 2000}})
    assert (response.status_code, codes(response.json())) == (413, [ErrorCode.PAYLOAD_TOO_LARGE])


async def test_rate_limit_per_client_is_429_with_retry_after(build: Build) -> None:
    limited = ClientConfig(name="limited", api_key_sha256=(hash_api_key("limited-key"),), scopes=READ_WRITE,
                           connections=("*",), rate_limit_per_minute=3)  # fmt: skip
    other = ClientConfig(name="other", api_key_sha256=(hash_api_key("other-key"),), scopes=READ_WRITE,
                         connections=("*",))  # fmt: skip
    _, anonymous = await build(clients=(limited, other), rate_limit_per_minute=1000)
    caller = anonymous.as_(x_api_key="limited-key")
    statuses = [(await caller.post({"query": "{ __typename }"})).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = await caller.post({"query": "{ __typename }"})
    assert codes(refused.json()) == [ErrorCode.REQUEST_RATE_LIMITED]
    assert 1 <= int(refused.headers["retry-after"]) <= 20
    # another client is not slowed down by it
    assert (await anonymous.as_(x_api_key="other-key").post({"query": "{ __typename }"})).status_code == 200


async def test_request_deadline_is_504(build: Build) -> None:
    # given a provider that never answers on its own (it waits for an event only this test sets)
    services, caller = await build(limits=Limits(request_timeout_seconds=0.2))
    called, answer, cut_off = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def never_answers(request: httpx.Request) -> httpx.Response:
        called.set()
        try:
            await answer.wait()
        except asyncio.CancelledError:
            cut_off.set()
            raise
        return httpx.Response(200, json={})

    swap_adapter(services, services.context.connections["sandbox-kombo"], httpx.MockTransport(never_answers))
    # when a sync of that connection is asked for
    sync = caller.post({"query": 'mutation { syncConnection(connectionId: "sandbox-kombo") { finished } }'})
    response = await asyncio.wait_for(sync, 30)  # without a deadline it would never end: fail, not hang
    # then the request ends at the deadline with its code (no answer could have ended it: the event
    # was never set), and a provider call that had started by then is cut off
    assert (response.status_code, codes(response.json())) == (504, [ErrorCode.REQUEST_TIMEOUT])
    assert not answer.is_set()
    if called.is_set():  # on a starved machine the deadline may pass before the call starts
        await asyncio.wait_for(cut_off.wait(), 10)
