"""Introspection, _service and _entities per environment and client; no field suggestions when introspection is off."""

from __future__ import annotations

from graphql import get_introspection_query

from providers.errors import ErrorCode
from server.clients import ClientConfig, hash_api_key
from server.settings import FederationSettings
from tests.server.conftest import CLIENTS, READ_WRITE, Build, codes

SCHEMA = "{ __schema { queryType { name } } }"
SERVICE = "{ _service { sdl } }"
ENTITIES = 'query { _entities(representations: [{__typename: "AssessmentOrder", id: "x"}]) { __typename } }'
TYPO = "{ assessmentOrderz { totalCount } }"
ENUM_TYPO = "query($p: Provider!) { assessmentOrders(filter: {providers: [$p]}) { totalCount } }"
EXPLORER = ClientConfig(name="explorer", api_key_sha256=(hash_api_key("explorer-key"),), scopes=READ_WRITE,
                        connections=("*",), introspection=True)  # fmt: skip


async def test_production_partner_gets_no_introspection_no_service_no_entities(build: Build) -> None:
    _, anonymous = await build(clients=CLIENTS, environment="production")
    partner = anonymous.as_(x_api_key="dashboard-key")
    for query, status, code in ((SCHEMA, 400, ErrorCode.INTROSPECTION_DISABLED),
                                ("{ __type(name: \"Query\") { name } }", 400, ErrorCode.INTROSPECTION_DISABLED),
                                (SERVICE, 400, ErrorCode.INTROSPECTION_DISABLED),
                                (ENTITIES, 403, ErrorCode.FORBIDDEN)):  # fmt: skip
        response = await partner.post({"query": query})
        assert (response.status_code, codes(response.json())) == (status, [code]), query
    assert (await partner.query("{ __typename }")) == {"data": {"__typename": "Query"}}


async def test_production_gateway_fetches_service_and_entities_but_not_introspection(build: Build) -> None:
    _, anonymous = await build(clients=CLIENTS, environment="production",
                               federation=FederationSettings(security_directives=True))  # fmt: skip
    gateway = anonymous.as_(x_api_key="gateway-key")
    sdl = (await gateway.query(SERVICE))["data"]["_service"]["sdl"]
    assert '@requiresScopes(scopes: [["orders:read"]])' in sdl and "@authenticated" in sdl
    entities = await gateway.query(ENTITIES)  # runs (the id is malformed, so: null with its code)
    assert (entities["data"], codes(entities)) == ({"_entities": [None]}, [ErrorCode.BAD_USER_INPUT])
    assert codes(await gateway.query(SCHEMA)) == [ErrorCode.INTROSPECTION_DISABLED]


async def test_a_client_may_be_granted_introspection_in_production(build: Build) -> None:
    _, anonymous = await build(clients=(*CLIENTS, EXPLORER), environment="production")
    assert (await anonymous.as_(x_api_key="explorer-key").query(SCHEMA)) == {
        "data": {"__schema": {"queryType": {"name": "Query"}}}
    }


async def test_no_suggestions_leak_when_introspection_is_off(build: Build) -> None:
    _, dev = await build()
    _, anonymous = await build(clients=CLIENTS, environment="production")
    prod = anonymous.as_(x_api_key="dashboard-key")
    # in development the hints help
    assert "Did you mean" in (await dev.query(TYPO))["errors"][0]["message"]
    assert "Did you mean" in (await dev.query(ENUM_TYPO, {"p": "KOMB"}))["errors"][0]["message"]
    # in production they are gone, the codes stay
    typo = await prod.query(TYPO)
    assert typo == {"errors": [{"message": "Cannot query field 'assessmentOrderz' on type 'Query'.",
                                "locations": [{"line": 1, "column": 3}],
                                "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}]}  # fmt: skip
    enum = await prod.query(ENUM_TYPO, {"p": "KOMB"})
    assert codes(enum) == [ErrorCode.BAD_USER_INPUT] and "Did you mean" not in enum["errors"][0]["message"]


async def test_graphiqls_full_introspection_query_fits_the_default_limits(build: Build) -> None:
    _, dev = await build()
    body = await dev.query(get_introspection_query(descriptions=True, directive_is_repeatable=True))
    assert "errors" not in body and body["data"]["__schema"]["queryType"]["name"] == "Query"
