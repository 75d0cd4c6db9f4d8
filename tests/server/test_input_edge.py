"""Bad input at the HTTP edge: garbage bodies and slicing arguments are coded 400s, never a 500 or a bypass."""

from __future__ import annotations

import logging

import httpx
import pytest

from providers.bounds import MAX_PAGE
from providers.errors import ErrorCode
from schema.root import build_schema
from server.clients import ClientConfig, hash_api_key
from server.documents import DocumentPreparer
from server.errors import RequestError
from server.limits import cost_model, estimate_cost
from tests.server.conftest import READ_WRITE, Build, codes

CLIENT = ClientConfig(name="dashboard", api_key_sha256=(hash_api_key("dashboard-key"),), scopes=READ_WRITE,
                      connections=("*",))  # fmt: skip
# 1 + 100 * (edge + node + candidate + job) = 401: 19 of them (7619) are over the default max cost of 5000.
ORDERS = "assessmentOrders(first: 100) { edges { node { id candidate { emails } job { title } } } }"


async def raw_post(http: httpx.AsyncClient, content: bytes, **headers: str) -> httpx.Response:
    return await http.post("/graphql", content=content, headers={
        "content-type": "application/json", "x-api-key": "dashboard-key", **headers,
    })  # fmt: skip


GARBAGE = [
    ("100k [", b"[" * 100_000),
    ("100k { keys", b'{"a":' * 50_000),
    ("deep variables", b'{"query": "{ __typename }", "variables": {"v": ' + b"[" * 5_000 + b"]" * 5_000 + b"}}"),
    ("invalid UTF-8", b'{"query": "{ __typename \xff\xfe }"}'),
    ("NaN", b'{"query": "{ __typename }", "variables": {"n": NaN}}'),
    ("Infinity", b'{"query": "{ __typename }", "variables": {"n": -Infinity}}'),
    ("1e400", b'{"query": "{ __typename }", "variables": {"n": 1e400}}'),
    ("lone surrogate in variables", b'{"query": "{ __typename }", "variables": {"s": "\\ud800"}}'),
    ("lone surrogate in the query", b'{"query": "{ __typename } # \\udfff"}'),
    ("not an object", b"[1, 2]"),
    ("truncated", b'{"query": "{ __typename }"'),
]  # fmt: skip


@pytest.mark.parametrize("media", ["application/graphql-response+json", "application/json"])
@pytest.mark.parametrize(("_case", "content"), GARBAGE, ids=[g[0] for g in GARBAGE])
async def test_garbage_body_from_an_authenticated_client_is_a_coded_400(
    build: Build, caplog: pytest.LogCaptureFixture, _case: str, content: bytes, media: str
) -> None:
    # given an authenticated client
    _, caller = await build(clients=(CLIENT,))
    # when it posts a garbage body
    with caplog.at_level(logging.INFO):
        response = await raw_post(caller.http, content, accept=media)
    # then the answer is a GraphQL-over-HTTP JSON error with a code, and nothing was logged as a bug
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(media)
    assert codes(response.json()) == [ErrorCode.BAD_REQUEST]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_garbage_body_over_get_is_a_coded_400(build: Build) -> None:
    _, caller = await build(clients=(CLIENT,))
    for variables in ("[" * 10_000, '{"n": NaN}', '{"s": "\\ud800"}'):
        response = await caller.as_(x_api_key="dashboard-key").get({"query": "{ __typename }", "variables": variables})
        assert (response.status_code, codes(response.json())) == (400, [ErrorCode.BAD_REQUEST])


# ----------------------------------------------------------------------------- slicing arguments (issue item 8)

SLICES = [
    ("alias with first -1000000", "x: assessmentOrders(first: -1000000) { edges { node { id } } }", "first"),
    ("last -1", "assessmentOrders(last: -1) { edges { node { id } } }", "last"),
    ("first 101", f"assessmentOrders(first: {MAX_PAGE + 1}) {{ edges {{ node {{ id }} }} }}", "first"),
    ("first 2^31-1", "assessmentOrders(first: 2147483647) { totalCount }", "first"),
    ("deliveries first -5", "deliveries(first: -5) { edges { cursor } }", "first"),
    ("deliveries first 1000", "deliveries(first: 1000) { edges { cursor } }", "first"),
]  # fmt: skip


@pytest.mark.parametrize(("_case", "field", "name"), SLICES, ids=[s[0] for s in SLICES])
async def test_absurd_slicing_argument_is_refused_before_the_cost_estimate(
    build: Build, _case: str, field: str, name: str
) -> None:
    # given the default cost limit, which 19 lists of 100 orders would exceed only with a negative term
    _, caller = await build(clients=(CLIENT,))
    lists = " ".join(f"a{i}: {ORDERS}" for i in range(19))
    # when the absurd argument comes as a literal, in a document that would otherwise be too expensive
    literal = await caller.as_(x_api_key="dashboard-key").post({"query": f"{{ {lists} {field} }}"})
    # then it is BAD_USER_INPUT (HTTP 400), not a cost refusal and not a run
    assert literal.status_code == 400, literal.text
    assert literal.json()["errors"][0]["extensions"] == {"code": ErrorCode.BAD_USER_INPUT, "field": name}
    assert "data" not in literal.json()


async def test_absurd_slicing_variable_is_refused_before_the_cost_estimate(build: Build) -> None:
    _, caller = await build(clients=(CLIENT,))
    query = "query($n: Int, $m: Int!) { a: assessmentOrders(first: $n) { totalCount } b: deliveries(first: $m) { totalCount } }"
    for variables in ({"n": -1000000, "m": 1}, {"n": 1, "m": -1}, {"n": 5000, "m": 1}):
        response = await caller.as_(x_api_key="dashboard-key").post({"query": query, "variables": variables})
        assert (response.status_code, codes(response.json())) == (400, [ErrorCode.BAD_USER_INPUT]), variables


async def test_many_lists_are_still_too_expensive(build: Build) -> None:
    # given a document of 19 lists of 100 orders
    _, caller = await build(clients=(CLIENT,))
    lists = " ".join(f"a{i}: {ORDERS}" for i in range(19))
    response = await caller.as_(x_api_key="dashboard-key").post({"query": f"{{ {lists} }}"})
    assert codes(response.json()) == [ErrorCode.COST_ESTIMATED_TOO_EXPENSIVE]


def test_cost_estimate_is_never_negative() -> None:
    # given the schema's cost model and a document with a page of 0 beside a page of 100
    schema = build_schema()
    model = cost_model(schema)
    prepared = DocumentPreparer(schema._schema, max_tokens=5000).prepare(
        "{ a: assessmentOrders(first: 0) { edges { node { id } } } b: " + ORDERS + " }"
    )
    operation = prepared.operation(None)
    assert operation is not None
    # when it is estimated, then an empty page adds its connection only, never a negative term
    assert estimate_cost(schema._schema, model, operation, prepared.fragments, {}) == 1 + (1 + 100 * 4)
    # and a negative size is refused rather than estimated
    negative = DocumentPreparer(schema._schema, max_tokens=5000).prepare("{ " + ORDERS.replace("100", "-5") + " }")
    with pytest.raises(RequestError) as refused:
        estimate_cost(schema._schema, model, negative.operation(None), negative.fragments, {})  # type: ignore[arg-type]
    assert refused.value.code is ErrorCode.BAD_USER_INPUT


def test_the_document_cache_is_bounded_in_entries_and_characters() -> None:
    # given a preparer that keeps 3 documents and 100 characters of text
    schema = build_schema()
    preparer = DocumentPreparer(schema._schema, max_tokens=5000, cache_size=3, cache_chars=100)
    texts = [f"{{ a{i}: __typename }}" for i in range(5)]
    # when five short documents are prepared twice, in turn
    for text in texts + texts:
        preparer.cached(text)
    # then only the last three stay (each was parsed again after eviction), and a long text is never kept
    assert preparer.parse_count == 10
    assert [preparer.cached(t) is preparer.cached(t) for t in texts[-3:]] == [True, True, True]
    assert preparer.parse_count == 10
    long = "{ " + " ".join(f"a{i}: __typename" for i in range(20)) + " }"
    preparer.cached(long)
    preparer.cached(long)
    assert preparer.parse_count == 12
    # and a document that fails keeps failing the same way from the cache
    broken = preparer.cached("{ nope }")
    assert broken.errors and preparer.cached("{ nope }").errors == broken.errors
