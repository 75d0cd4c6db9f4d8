"""Defence in depth: a stored record that no longer decodes is one coded field error, never a failed list."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from app import Services, build_services, create_app
from providers.errors import ErrorCode
from providers.models import OrderRef
from sandbox import Sandboxes
from server.settings import sandbox_settings
from store.tables import orders, results
from tests.conftest import FIXED_NOW, GraphQLClient
from tests.store.conftest import fresh_pg_database

UNREADABLE = ErrorCode.STORED_RECORD_UNREADABLE
LIST = "{ assessmentOrders(first: 100) { totalCount edges { cursor node { id result { id status } } } } }"
DELIVERIES = "{ deliveries(first: 100) { totalCount edges { cursor node { orderId result { id } delivery { state } } } } }"
ONE = "query($id: ID!) { assessmentOrder(id: $id) { id result { id } } }"
WRITE = """mutation($id: ID!) { updateAssessmentResult(input: {orderId: $id, status: COMPLETED, summary: "s"}) {
  delivery { state } } }"""
STACKONE = '{ assessmentOrders(first: 100, filter: {providers: [STACKONE]}) { edges { node { id } } } }'


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_services(request: pytest.FixtureRequest, tmp_path: Path, sandboxes: Sandboxes) -> AsyncIterator[Services]:
    async def built(url: str) -> Services:
        services = await build_services(sandbox_settings(url), sandboxes=sandboxes)
        services.context.clock = lambda: FIXED_NOW
        return services

    if request.param == "sqlite":
        services = await built(f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}")
        yield services
        await services.aclose()
        return
    async with fresh_pg_database("unreadable_test") as url:
        services = await built(url)
        yield services
        await services.aclose()


@pytest.fixture
async def client(db_services: Services) -> AsyncIterator[GraphQLClient]:
    transport = httpx.ASGITransport(app=create_app(db_services))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
        yield GraphQLClient(http)


async def stackone_ids(gql: GraphQLClient) -> list[str]:
    body = await gql(STACKONE)
    return [edge["node"]["id"] for edge in body["data"]["assessmentOrders"]["edges"]]


async def corrupt_result(services: Services, order_id: str) -> None:
    """What the 1e400 literal left before the bounds: a sub-result score stored as null."""
    engine = services.store.engine  # type: ignore[attr-defined]
    async with engine.begin() as conn:
        row = (await conn.execute(select(results.c.id, results.c.data).where(results.c.order_id == order_id))).one()
        data = json.loads(row.data)
        data["update"]["attributes"] = [{"type": "SUB_RESULT", "label": "x", "score": {"value": None}}]
        await conn.execute(update(results).where(results.c.id == row.id).values(data=json.dumps(data)))


async def corrupt_order(services: Services, order_id: str) -> None:
    """What a deep passthrough left before the bounds: a record nested past the decoder's recursion limit."""
    deep: Any = 1
    for _ in range(400):
        deep = {"a": deep}
    engine = services.store.engine  # type: ignore[attr-defined]
    async with engine.begin() as conn:
        row = (await conn.execute(select(orders.c.data).where(orders.c.id == order_id))).one()
        data = json.loads(row.data) | {"raw": deep}
        await conn.execute(update(orders).where(orders.c.id == order_id).values(data=json.dumps(data)))


def unreadable_paths(body: dict[str, Any]) -> list[list[Any]]:
    errors = body.get("errors", [])
    assert all(e["extensions"]["code"] == UNREADABLE for e in errors), errors
    return [e["path"] for e in errors]


async def test_unreadable_result_fails_its_own_field_only(client: GraphQLClient, db_services: Services) -> None:
    # given two StackOne orders with delivered results, one of them corrupted in the results table
    bad, good, *_ = await stackone_ids(client)
    for order_id in (bad, good):
        assert "errors" not in await client(WRITE, {"id": order_id})
    await corrupt_result(db_services, bad)
    # when the order list with results is read
    listed = await client(LIST)
    # then one error, on the corrupted order's result field only, and every other order and result comes back
    edges = listed["data"]["assessmentOrders"]["edges"]
    index = next(i for i, e in enumerate(edges) if e["node"]["id"] == bad)
    assert unreadable_paths(listed) == [["assessmentOrders", "edges", index, "node", "result"]]
    assert edges[index]["node"]["result"] is None
    assert next(e for e in edges if e["node"]["id"] == good)["node"]["result"]["status"] == "COMPLETED"
    assert len(edges) == listed["data"]["assessmentOrders"]["totalCount"]
    # and the deliveries list loses that one node only
    deliveries = await client(DELIVERIES)
    nodes = [e["node"] for e in deliveries["data"]["deliveries"]["edges"]]
    assert unreadable_paths(deliveries) == [["deliveries", "edges", nodes.index(None), "node"]]
    assert [n["orderId"] for n in nodes if n] == [good]
    # and the order alone answers the same coded field error
    one = await client(ONE, {"id": bad})
    assert unreadable_paths(one) == [["assessmentOrder", "result"]]
    assert one["data"]["assessmentOrder"]["id"] == bad
    # and a new write to it is a coded refusal, not an unexpected error
    again = await client(WRITE, {"id": bad})
    assert [e["extensions"]["code"] for e in again["errors"]] == [UNREADABLE]


async def test_unreadable_order_fails_its_own_node_only(client: GraphQLClient, db_services: Services) -> None:
    # given an order whose stored record is nested too deep to decode
    bad, good, *_ = await stackone_ids(client)
    await corrupt_order(db_services, bad)
    # when the list is read
    listed = await client(LIST)
    # then that edge keeps its cursor, its node is null with one coded error, and the others come back
    connection = listed["data"]["assessmentOrders"]
    nodes = [edge["node"] for edge in connection["edges"]]
    assert unreadable_paths(listed) == [["assessmentOrders", "edges", nodes.index(None), "node"]]
    assert all(edge["cursor"] for edge in connection["edges"])
    assert good in [n["id"] for n in nodes if n] and len(nodes) == connection["totalCount"]
    # and the order alone is null with the same code; a write to it is refused with it
    one = await client(ONE, {"id": bad})
    assert one["data"] == {"assessmentOrder": None} and unreadable_paths(one) == [["assessmentOrder"]]
    write = await client(WRITE, {"id": bad})
    assert [e["extensions"]["code"] for e in write["errors"]] == [UNREADABLE]
    # and the other orders are still written and read
    assert "errors" not in await client(WRITE, {"id": good})


async def test_unreadable_record_is_logged_in_one_line_without_its_content(
    client: GraphQLClient, db_services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    bad, *_ = await stackone_ids(client)
    await corrupt_order(db_services, bad)
    await client(ONE, {"id": bad})
    store_lines = [r for r in caplog.records if r.name == "gateway.store"]
    assert len(store_lines) == 1 and store_lines[0].exc_info is None
    assert OrderRef.parse(bad).provider_order_id in store_lines[0].getMessage() or bad in store_lines[0].getMessage()
    assert '"a"' not in store_lines[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info]
