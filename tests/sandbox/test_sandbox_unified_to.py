"""The Unified.to sandbox: bearer auth, connection path, AssessmentOrder checks, PUT vs PATCH, `fields`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from sandbox.unified_to import UnifiedToSandbox, create_app

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
CONNECTION, WORKSPACE = "66a1f0c2b7e4a9d3c1f0e8a1", "66a1f0c2b7e4a9d3c1f0e8a0"
HEADERS = {"authorization": "Bearer sandbox-unified-key"}
TENANT = {"workspace_id": WORKSPACE, "connection_id": CONNECTION}


@pytest.fixture
def state() -> UnifiedToSandbox:
    box = UnifiedToSandbox(clock=lambda: NOW)
    box.seed()
    return box


@pytest.fixture
async def http(state: UnifiedToSandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://unified.test") as client:
        yield client


def open_order(state: UnifiedToSandbox) -> str:
    return next(oid for oid, order in state.orders.items() if order["status"] == "OPEN")


def url(order_id: str, connection: str = CONNECTION) -> str:
    return f"/assessment/{connection}/order/{order_id}"


def assert_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status
    assert response.json()["status"] == status and set(response.json()) == {"status", "message"}
    return str(response.json()["message"])


def test_seed_holds_full_orders_in_several_statuses(state: UnifiedToSandbox) -> None:
    statuses = sorted(o["status"] for o in state.orders.values())
    assert statuses == ["COMPLETED", "IN_PROGRESS", "OPEN", "OPEN", "OPEN"]
    for oid, order in state.orders.items():
        assert order["id"] == oid and order["workspace_id"] == WORKSPACE and order["connection_id"] == CONNECTION
        assert order["profile_emails"] and order["candidate_id"] and order["package_id"] and order["created_at"]
    done = next(o for o in state.orders.values() if o["status"] == "COMPLETED")
    assert done["response_score"] == 78 and done["response_url"].startswith("https://")


async def test_put_replaces_the_order(http: httpx.AsyncClient, state: UnifiedToSandbox) -> None:
    order_id = open_order(state)
    created = state.orders[order_id]["created_at"]
    body = {**TENANT, "status": "COMPLETED", "response_score": 87, "response_max_score": 100}
    response = await http.put(url(order_id), json=body, headers=HEADERS)
    assert response.status_code == 200
    expected = {**body, "id": order_id, "created_at": created, "updated_at": "2026-05-04T12:00:00.000Z"}
    assert response.json() == expected and state.orders[order_id] == expected
    assert "profile_emails" not in state.orders[order_id]  # replaced, not merged


async def test_patch_merges_into_the_order(http: httpx.AsyncClient, state: UnifiedToSandbox) -> None:
    order_id = open_order(state)
    before = dict(state.orders[order_id])
    body = {**TENANT, "status": "IN_PROGRESS", "response_status": "IN_PROGRESS"}
    response = await http.patch(url(order_id), json=body, headers=HEADERS)
    assert response.status_code == 200
    assert response.json() == {**before, **body, "updated_at": "2026-05-04T12:00:00.000Z"}
    assert state.orders[order_id]["profile_emails"] == before["profile_emails"]


@pytest.mark.parametrize(
    ("_case", "query", "keys"),
    [
        ("repeated", [("fields", "status"), ("fields", "response_score")], {"id", "status", "response_score"}),
        ("comma-joined", [("fields", "status,updated_at")], {"id", "status", "updated_at"}),
        ("empty", [("fields", "")], None),
    ],
)  # fmt: skip
async def test_fields_limits_the_answer(
    http: httpx.AsyncClient, state: UnifiedToSandbox, _case: str, query: list[tuple[str, str]], keys: set[str] | None
) -> None:
    order_id = open_order(state)
    body = {**TENANT, "status": "COMPLETED", "response_score": 87}
    response = await http.put(url(order_id), json=body, headers=HEADERS, params=query)
    assert response.status_code == 200
    assert set(response.json()) == (keys or set(state.orders[order_id]))
    assert response.json()["id"] == order_id


async def test_unknown_field_name_in_fields_is_400(http: httpx.AsyncClient, state: UnifiedToSandbox) -> None:
    response = await http.put(url(open_order(state)), json=TENANT, headers=HEADERS, params={"fields": "score"})
    assert "score" in assert_error(response, 400)


@pytest.mark.parametrize(
    ("_case", "headers", "connection", "status"),
    [
        ("no authorization", {}, CONNECTION, 401),
        ("wrong key", {"authorization": "Bearer other"}, CONNECTION, 401),
        ("key without scheme", {"authorization": "sandbox-unified-key"}, CONNECTION, 401),
        ("unknown connection", HEADERS, "66a1f0c2b7e4a9d3c1f0ffff", 404),
    ],
)  # fmt: skip
async def test_auth_and_connection_are_checked(
    http: httpx.AsyncClient, state: UnifiedToSandbox, _case: str, headers: dict[str, str], connection: str, status: int
) -> None:
    order_id = open_order(state)
    before = dict(state.orders[order_id])
    for send in (http.put, http.patch):
        response = await send(url(order_id, connection), json={**TENANT, "status": "COMPLETED"}, headers=headers)
        assert_error(response, status)
    assert state.orders[order_id] == before


async def test_lower_case_bearer_is_accepted(http: httpx.AsyncClient, state: UnifiedToSandbox) -> None:
    response = await http.patch(url(open_order(state)), json=TENANT, headers={"authorization": "bearer sandbox-unified-key"})
    assert response.status_code == 200


async def test_unknown_order_is_404(http: httpx.AsyncClient) -> None:
    assert "Order" in assert_error(await http.put(url("66b2a1d3c4e5f607182900ff"), json=TENANT, headers=HEADERS), 404)


def _with(**changes: Any) -> dict[str, Any]:
    return {**TENANT, **changes}


@pytest.mark.parametrize(
    ("_case", "body", "mentions"),
    [
        ("not an object", [TENANT], "object"),
        ("missing workspace_id", {"connection_id": CONNECTION}, "workspace_id"),
        ("missing connection_id", {"workspace_id": WORKSPACE}, "connection_id"),
        ("other workspace", _with(workspace_id="66a1f0c2b7e4a9d3c1f0eeee"), "workspace_id"),
        ("other connection", _with(connection_id="66a1f0c2b7e4a9d3c1f0eeee"), "connection_id"),
        ("status CANCELLED", _with(status="CANCELLED"), "status"),
        ("response_status lower case", _with(response_status="completed"), "response_status"),
        ("score a string", _with(response_score="87"), "response_score"),
        ("max score a bool", _with(response_max_score=True), "response_max_score"),
        ("completed_at not a date", _with(response_completed_at="31/10/2026"), "response_completed_at"),
        ("issued_at without zone", _with(response_issued_at="2026-10-31T10:00:00"), "response_issued_at"),
        ("download urls a string", _with(response_download_urls="https://x.example/r.pdf"), "response_download_urls"),
        ("details not objects", _with(response_details=["text"]), "response_details"),
        ("detail flag not bool", _with(response_details=[{"title": "A", "is_private": "no"}]), "response_details[0]"),
        ("attribute without label", _with(response_attributes=[{"type": "TEXT", "value": "x"}]), "label"),
        ("attribute type unknown", _with(response_attributes=[{"type": "BOOL", "label": "x"}]), "type"),
        ("attribute score a string", _with(response_attributes=[{"type": "NUMBER", "label": "x", "score_value": "9"}]),
         "score_value"),
        ("emails a string", _with(profile_emails="a@example.com"), "profile_emails"),
        ("gender unknown", _with(profile_gender="M"), "profile_gender"),
        ("unknown key", _with(response_summary="Good"), "response_summary"),
    ],
)  # fmt: skip
async def test_invalid_bodies_are_refused(
    http: httpx.AsyncClient, state: UnifiedToSandbox, _case: str, body: Any, mentions: str
) -> None:
    order_id = open_order(state)
    before = dict(state.orders[order_id])
    for send in (http.put, http.patch):
        assert mentions in assert_error(await send(url(order_id), json=body, headers=HEADERS), 400)
    assert state.orders[order_id] == before


async def test_recording_includes_refused_requests_and_raw(http: httpx.AsyncClient, state: UnifiedToSandbox) -> None:
    order_id = open_order(state)
    await http.put(url(order_id), json=TENANT, headers={"authorization": "Bearer nope"})
    await http.put(url(order_id), json=TENANT, headers=HEADERS, params={"raw": "foo=bar&zoo=bar"})
    assert [(r.method, r.status) for r in state.received] == [("PUT", 401), ("PUT", 200)]
    assert state.received[1].query == {"raw": ["foo=bar&zoo=bar"]}
    assert b"raw=foo%3Dbar%26zoo%3Dbar" not in state.received[1].raw_body  # raw only travels in the query
    assert state.received[1].body == TENANT and state.received[1].path == url(order_id)
