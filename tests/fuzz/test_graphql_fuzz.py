"""Property-based fuzzing of /graphql: documents, literals and variables generated from the committed schema.

Properties, for two API-key clients (two tenants) on the sandbox default: no answer is a 5xx, no error
is INTERNAL_SERVER_ERROR, and after every generated write, listing each tenant's orders with their
results, and its deliveries, answers without any error. Seeded (derandomized) and bounded for CI;
`FUZZ_PROFILE=long` runs many more examples (docs/input-bounds.md).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import graphql
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import from_schema, nodes

from app import Services, build_services, create_app
from sandbox import create_sandboxes
from schema.root import build_schema
from server.clients import ClientConfig, hash_api_key
from server.settings import sandbox_settings

settings.register_profile(
    "ci", max_examples=40, derandomize=True, database=None, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)  # fmt: skip
settings.register_profile("long", parent=settings.get_profile("ci"), max_examples=2_000)
PROFILE = settings.get_profile(os.environ.get("FUZZ_PROFILE", "ci"))

BOTH = ("orders:read", "results:write")
TENANTS = {
    "tenant-a": ("sandbox-stackone", "sandbox-kombo"),
    "tenant-b": ("sandbox-unified-to",),
}
CLIENTS = tuple(
    ClientConfig(name=name, api_key_sha256=(hash_api_key(f"{name}-key"),), scopes=BOTH, connections=connections)
    for name, connections in TENANTS.items()
)
CHECK_ORDERS = """{ assessmentOrders(first: 100) { edges { node { id providerData result { id status score { value }
  attributes { label value score { value max } } attachments { url name } passthrough summary startedAt completedAt
  idempotencyKey } } } } }"""
CHECK_DELIVERIES = "{ deliveries(first: 100) { edges { node { orderId result { passthrough } delivery { state } } } } }"
WRITE = "mutation($input: UpdateAssessmentResultInput!) { updateAssessmentResult(input: $input) { delivery { state } } }"


@dataclass
class Harness:
    """The app around fresh sandboxes, on one event loop the generated examples reuse."""

    loop: asyncio.AbstractEventLoop
    services: Services
    http: httpx.AsyncClient
    order_ids: list[str]

    def post(self, tenant: str, body: dict[str, Any]) -> httpx.Response:
        # ensure_ascii keeps lone surrogates as \\udXXX escapes; allow_nan sends NaN/Infinity as a JSON client might
        content = json.dumps(body, ensure_ascii=True, allow_nan=True)
        headers = {"content-type": "application/json", "x-api-key": f"{tenant}-key"}
        return self.loop.run_until_complete(self.http.post("/graphql", content=content, headers=headers))

    def check(self, tenant: str, body: dict[str, Any]) -> dict[str, Any]:
        """Send one generated request; assert no 5xx and no unexpected error; after a write, every tenant reads."""
        response = self.post(tenant, body)
        assert response.status_code < 500, response.text
        answer: dict[str, Any] = response.json()
        codes = [error.get("extensions", {}).get("code") for error in answer.get("errors", [])]
        assert "INTERNAL_SERVER_ERROR" not in codes, (body, answer)
        assert None not in codes, answer
        if "mutation" in str(body.get("query", "")):
            self.every_tenant_reads()
        return answer

    def every_tenant_reads(self) -> None:
        for tenant in TENANTS:
            for query in (CHECK_ORDERS, CHECK_DELIVERIES):
                read = self.post(tenant, {"query": query})
                assert read.status_code == 200, read.text
                assert "errors" not in read.json(), read.json()


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    loop = asyncio.new_event_loop()
    path: Path = tmp_path_factory.mktemp("fuzz") / "gateway.db"
    config = sandbox_settings(f"sqlite+aiosqlite:///{path}").model_copy(update={"clients": CLIENTS})
    services = loop.run_until_complete(build_services(config, sandboxes=create_sandboxes()))
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(services)), base_url="http://fuzz.test")
    made = Harness(loop, services, http, [])
    listed = made.post("tenant-a", {"query": "{ assessmentOrders(first: 100) { edges { node { id } } } }"}).json()
    listed_b = made.post("tenant-b", {"query": "{ assessmentOrders(first: 100) { edges { node { id } } } }"}).json()
    for page in (listed, listed_b):
        made.order_ids += [edge["node"]["id"] for edge in page["data"]["assessmentOrders"]["edges"]]
    yield made
    loop.run_until_complete(http.aclose())
    loop.run_until_complete(services.aclose())
    loop.close()


# ----------------------------------------------------------------------------- value strategies

ODD_TEXT = st.sampled_from(["\ud800", "a\udfffb", "\x00", "", " ", "x" * 300, "é" * 70, "1e400", "nan", "-inf", "🙂"])
TEXT = st.one_of(st.text(max_size=40), ODD_TEXT)
EXTREME_DATES = st.sampled_from([
    "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z",
    "0001-01-02T00:00:00Z", "9999-12-30T23:59:59Z", "2026-02-30T00:00:00Z", "2026-01-01T00:00:00", "not a date",
])  # fmt: skip
DATES = st.one_of(EXTREME_DATES, st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()))
NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(min_value=-(2**70), max_value=2**70))


def nested_json(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"k": value}
    return value


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), NUMBERS, TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=20,
)
PASSTHROUGH = st.one_of(st.none(), st.dictionaries(TEXT, JSON_VALUES, max_size=4),
                        st.integers(min_value=1, max_value=70).map(nested_json), JSON_VALUES)  # fmt: skip


def id_nodes(order_ids: list[str]) -> st.SearchStrategy[graphql.ValueNode]:
    known = st.sampled_from(order_ids + list(TENANTS["tenant-a"]) + list(TENANTS["tenant-b"]))
    return st.one_of(known, TEXT).map(nodes.String)


def json_node(value: Any) -> graphql.ValueNode:
    node = graphql.ast_from_value(value, graphql.GraphQLString) if isinstance(value, str) else None
    if node is not None:
        return node
    if isinstance(value, dict):
        fields = [graphql.ObjectFieldNode(name=graphql.NameNode(value=f"k{i}"), value=json_node(v))
                  for i, v in enumerate(value.values())]  # fmt: skip
        return nodes.Object(fields)
    if isinstance(value, list):
        return nodes.List([json_node(v) for v in value])
    if isinstance(value, bool):
        return nodes.Boolean(value)
    if isinstance(value, int):
        return nodes.Int(value)
    if isinstance(value, float):
        return graphql.FloatValueNode(value="1e400" if value != value or abs(value) == float("inf") else repr(value))
    return graphql.NullValueNode()


def documents(order_ids: list[str]) -> st.SearchStrategy[str]:
    schema = build_schema()._schema
    entity = st.sampled_from(order_ids).map(
        lambda i: nodes.Object([
            graphql.ObjectFieldNode(name=graphql.NameNode(value="__typename"), value=nodes.String("AssessmentOrder")),
            graphql.ObjectFieldNode(name=graphql.NameNode(value="id"), value=nodes.String(i)),
        ])
    )  # fmt: skip
    scalars = {
        "ID": id_nodes(order_ids), "DateTime": DATES.map(nodes.String), "JSON": PASSTHROUGH.map(json_node),
        "_Any": entity,
    }  # fmt: skip
    return from_schema(schema, custom_scalars=scalars, codec=None).map(str)  # type: ignore[arg-type]


def write_inputs(order_ids: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    score = st.fixed_dictionaries({"value": NUMBERS}, optional={"min": NUMBERS, "max": NUMBERS, "label": TEXT})
    attribute = st.fixed_dictionaries(
        {"type": st.sampled_from(["TEXT", "NUMBER", "SUB_RESULT"]), "label": TEXT},
        optional={"value": TEXT, "score": st.fixed_dictionaries({"value": NUMBERS}, optional={"max": NUMBERS}),
                  "id": TEXT, "status": st.sampled_from(["COMPLETED", "FAILED"])},
    )  # fmt: skip
    attachment = st.fixed_dictionaries({"url": st.one_of(TEXT, st.just("https://v.example/r.pdf"))},
                                       optional={"name": TEXT, "contentType": TEXT})  # fmt: skip
    return st.fixed_dictionaries(
        {"orderId": st.sampled_from(order_ids), "status": st.sampled_from(["COMPLETED", "CANCELLED", "FAILED", "OPEN"])},
        optional={
            "outcome": st.sampled_from(["PASSED", "FAILED"]), "score": score, "summary": TEXT,
            "resultUrl": st.one_of(TEXT, st.just("https://v.example/result")), "startedAt": DATES,
            "completedAt": DATES, "attachments": st.lists(attachment, max_size=3),
            "attributes": st.lists(attribute, max_size=4), "candidateProfileUrl": TEXT,
            "passthrough": PASSTHROUGH, "idempotencyKey": TEXT,
        },
    )  # fmt: skip


# ----------------------------------------------------------------------------- the properties


def test_generated_documents_with_literals(harness: Harness) -> None:
    @PROFILE
    @given(document=documents(harness.order_ids), tenant=st.sampled_from(sorted(TENANTS)))
    def run(document: str, tenant: str) -> None:
        harness.check(tenant, {"query": document})

    run()
    harness.every_tenant_reads()


def test_generated_writes_with_variables(harness: Harness) -> None:
    @PROFILE
    @given(data=st.data(), tenant=st.sampled_from(sorted(TENANTS)))
    def run(data: st.DataObject, tenant: str) -> None:
        write = data.draw(write_inputs(harness.order_ids))
        harness.check(tenant, {"query": WRITE, "variables": {"input": write}})

    run()
    harness.every_tenant_reads()


def test_generated_filters_and_slices_with_variables(harness: Harness) -> None:
    query = """query($f: AssessmentOrderFilter, $first: Int, $last: Int, $d: Int!, $after: String) {
      assessmentOrders(filter: $f, first: $first, last: $last, after: $after) { totalCount edges { cursor node { id } } }
      deliveries(first: $d) { totalCount } }"""
    ints = st.one_of(st.integers(min_value=-5, max_value=105), st.integers(), NUMBERS, TEXT, st.none())
    filters = st.fixed_dictionaries({}, optional={
        "search": TEXT, "candidateEmail": TEXT, "createdAfter": DATES, "createdBefore": DATES, "updatedAfter": DATES,
        "updatedBefore": DATES, "packageIds": st.lists(TEXT, max_size=3), "connectionIds": st.lists(TEXT, max_size=3),
        "statuses": st.lists(st.sampled_from(["OPEN", "COMPLETED", "NOPE"]), max_size=2),
    })  # fmt: skip

    @PROFILE
    @given(f=filters, first=ints, last=ints, d=ints, after=st.one_of(st.none(), TEXT), tenant=st.sampled_from(sorted(TENANTS)))
    def run(f: dict[str, Any], first: Any, last: Any, d: Any, after: Any, tenant: str) -> None:
        variables = {"f": f, "first": first, "last": last, "d": d, "after": after}
        harness.check(tenant, {"query": query, "variables": variables})

    run()
