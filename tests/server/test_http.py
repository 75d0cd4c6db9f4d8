"""GraphQL over HTTP at the edge: media types and status codes, GET rules, malformed requests, CSRF, GraphiQL."""

from __future__ import annotations

import httpx
import pytest

from providers.errors import ErrorCode
from tests.server.conftest import Build, codes

GQL_RESPONSE = "application/graphql-response+json"
TYPENAME = {"query": "{ __typename }"}


async def test_media_type_follows_accept(build: Build) -> None:
    _, caller = await build()
    for accept, expected in ((GQL_RESPONSE, GQL_RESPONSE), ("application/json", "application/json"),
                             ("*/*", "application/json"), (f"{GQL_RESPONSE}, application/json;q=0.9", GQL_RESPONSE),
                             (f"application/json, {GQL_RESPONSE};q=0.5", "application/json")):  # fmt: skip
        response = await caller.post(TYPENAME, accept=accept)
        assert response.status_code == 200
        assert response.headers["content-type"] == f"{expected}; charset=utf-8"
        assert response.json() == {"data": {"__typename": "Query"}}
    refused = await caller.post(TYPENAME, accept="text/csv")
    assert (refused.status_code, codes(refused.json())) == (406, [ErrorCode.NOT_ACCEPTABLE])


@pytest.mark.parametrize(
    ("_case", "body", "legacy_status", "code"),
    [
        ("parse error", {"query": "{"}, 200, ErrorCode.GRAPHQL_PARSE_FAILED),
        ("validation error", {"query": "{ nope }"}, 200, ErrorCode.GRAPHQL_VALIDATION_FAILED),
        ("variable coercion", {"query": "query($id: ID!) { __typename }", "variables": {"id": None}}, 200,
         ErrorCode.BAD_USER_INPUT),
    ],
)  # fmt: skip
async def test_request_errors_are_400_without_data_for_graphql_response_json(
    build: Build, _case: str, body: dict[str, object], legacy_status: int, code: ErrorCode
) -> None:
    _, caller = await build()
    modern = await caller.post(body, accept=GQL_RESPONSE)
    assert modern.status_code == 400 and "data" not in modern.json() and codes(modern.json()) == [code]
    legacy = await caller.post(body, accept="application/json")
    assert legacy.status_code == legacy_status and codes(legacy.json()) == [code]


@pytest.mark.parametrize(
    ("_case", "content", "content_type", "status", "code"),
    [
        ("no content type", b"{}", None, 415, ErrorCode.UNSUPPORTED_MEDIA_TYPE),
        ("xml", b"<q/>", "application/xml", 415, ErrorCode.UNSUPPORTED_MEDIA_TYPE),
        ("empty body", b"", "application/json", 400, ErrorCode.BAD_REQUEST),
        ("not JSON", b'{ "not a JSON', "application/json", 400, ErrorCode.BAD_REQUEST),
        ("batch", b'[{"query": "{ __typename }"}]', "application/json", 400, ErrorCode.BAD_REQUEST),
        ("no query", b'{"qeury": "{ __typename }"}', "application/json", 400, ErrorCode.BAD_REQUEST),
        ("query not a string", b'{"query": 0}', "application/json", 400, ErrorCode.BAD_REQUEST),
        ("variables not an object", b'{"query": "{ __typename }", "variables": "x"}', "application/json", 400,
         ErrorCode.BAD_REQUEST),
        ("extensions not an object", b'{"query": "{ __typename }", "extensions": []}', "application/json", 400,
         ErrorCode.BAD_REQUEST),
        ("operationName not a string", b'{"query": "{ __typename }", "operationName": false}', "application/json",
         400, ErrorCode.BAD_REQUEST),
        ("unknown operation", b'{"query": "query A { __typename }", "operationName": "B"}', "application/json",
         400, ErrorCode.BAD_REQUEST),
    ],
)  # fmt: skip
async def test_malformed_requests_are_4xx_with_a_code(
    build: Build, _case: str, content: bytes, content_type: str | None, status: int, code: ErrorCode
) -> None:
    _, caller = await build()
    headers = {"apollo-require-preflight": "1"} | ({"content-type": content_type} if content_type else {})
    response = await caller.http.post("/graphql", content=content, headers=headers)
    assert (response.status_code, codes(response.json())) == (status, [code])


async def test_get_runs_queries_and_refuses_mutations_with_405(build: Build) -> None:
    _, caller = await build()
    ok = await caller.get({"query": "query($n: String!) { __type(name: $n) { name } }", "variables": '{"n": "Query"}'})
    assert ok.json() == {"data": {"__type": {"name": "Query"}}}
    refused = await caller.get({"query": "mutation { __typename }"}, accept=GQL_RESPONSE)
    assert (refused.status_code, refused.headers["allow"], codes(refused.json())) == (
        405, "POST", [ErrorCode.METHOD_NOT_ALLOWED],
    )  # fmt: skip


async def test_csrf_prevention_blocks_simple_requests_without_a_preflight_header(build: Build) -> None:
    _, caller = await build()
    http: httpx.AsyncClient = caller.http
    for response in (
        await http.post("/graphql", content=b'{"query": "{ __typename }"}', headers={"content-type": "text/plain"}),
        await http.post("/graphql", content=b"query=%7B__typename%7D",
                        headers={"content-type": "application/x-www-form-urlencoded"}),
        await http.get("/graphql", params={"query": "{ __typename }"}),
    ):  # fmt: skip
        assert (response.status_code, codes(response.json())) == (400, [ErrorCode.CSRF_ERROR])
    for header in ("apollo-require-preflight", "x-apollo-operation-name"):
        allowed = await http.get("/graphql", params={"query": "{ __typename }"}, headers={header: "x"})
        assert allowed.json() == {"data": {"__typename": "Query"}}


async def test_csrf_prevention_can_be_turned_off(build: Build) -> None:
    _, caller = await build(csrf_prevention=False)
    response = await caller.http.get("/graphql", params={"query": "{ __typename }"})
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_graphiql_in_development_not_in_production(build: Build) -> None:
    _, dev = await build()
    page = await dev.http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    _, prod = await build(environment="production")
    off = await prod.http.get("/graphql", headers={"accept": "text/html", "apollo-require-preflight": "1"})
    assert off.status_code == 406 and "graphiql" not in off.text.lower()  # no GraphiQL; HTML is not a GraphQL type
