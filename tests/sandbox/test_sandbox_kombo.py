"""The Kombo sandbox: auth and integration checks, order paging and filters, the result body, the OPEN rule."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from sandbox.kombo import KomboSandbox, create_app

HEADERS = {"authorization": "Bearer sandbox-kombo-key", "x-integration-id": "greenhouse:sandbox1"}
DONE: dict[str, Any] = {"status": "COMPLETED", "result_url": "https://vendor.example/r/1",
                        "completed_at": "2026-05-04T12:00:00.000Z"}  # fmt: skip
ORDER_KEYS = {"id", "package_id", "status", "candidate", "application", "job"}


@pytest.fixture
def state() -> KomboSandbox:
    box = KomboSandbox()
    box.seed()
    return box


@pytest.fixture
async def http(state: KomboSandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://kombo.test/v1") as client:
        yield client


def order_in(state: KomboSandbox, status: str) -> str:
    return next(oid for oid, order in state.orders.items() if order["status"] == status)


def assert_error(response: httpx.Response, status: int, code: str | None) -> dict[str, Any]:
    assert response.status_code == status
    body: dict[str, Any] = response.json()
    assert body["status"] == "error" and set(body["error"]) == {"code", "title", "message", "log_url"}
    assert body["error"]["code"] == code
    assert body["error"]["log_url"].startswith("https://app.kombo.dev/logs/")
    return dict(body["error"])


async def list_all(http: httpx.AsyncClient, **params: str) -> tuple[list[dict[str, Any]], int]:
    found, pages, cursor = [], 0, None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await http.get("/assessment/orders", params=query, headers=HEADERS)
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        assert set(response.json()) == {"status", "data"}
        found, pages, cursor = found + data["results"], pages + 1, data["next"]
        if cursor is None:
            return found, pages


def test_seed_covers_every_status_with_realistic_orders(state: KomboSandbox) -> None:
    statuses = sorted(o["status"] for o in state.orders.values())
    assert statuses.count("OPEN") >= 3 and {"COMPLETED", "CANCELLED", "REJECTED"} <= set(statuses)
    for oid, order in state.orders.items():
        assert re.fullmatch(r"[A-Za-z0-9]{24}", oid) and order["id"] == oid and set(order) == ORDER_KEYS
        assert "@" in order["candidate"]["email"] and order["job"]["name"] and order["job"]["location"]["city"]
        assert oid in state.created_at and state.created_at[oid].year == 2026


async def test_list_pages_with_a_cursor_until_next_is_null(http: httpx.AsyncClient, state: KomboSandbox) -> None:
    found, pages = await list_all(http, page_size="2")
    assert pages == 3
    assert sorted(o["id"] for o in found) == sorted(state.orders)
    assert found == sorted(found, key=lambda o: state.created_at[o["id"]])


async def test_list_filters_by_status_ids_and_created_after(http: httpx.AsyncClient, state: KomboSandbox) -> None:
    found, _ = await list_all(http, statuses="OPEN,REJECTED", page_size="1")
    assert {o["status"] for o in found} == {"OPEN", "REJECTED"} and len(found) == 4
    some = sorted(state.orders)[:2]
    found, _ = await list_all(http, ids=",".join(some))
    assert sorted(o["id"] for o in found) == some
    newest = max(state.created_at, key=state.created_at.__getitem__)
    edge = state.created_at[newest].strftime("%Y-%m-%dT%H:%M:%S.000Z")
    found, _ = await list_all(http, created_after=edge)  # "on or after"
    assert [o["id"] for o in found] == [newest]
    found, _ = await list_all(http, created_after="2026-03-01", statuses="OPEN")
    assert len(found) == 3


@pytest.mark.parametrize(
    ("_case", "params", "mentions"),
    [
        ("page_size zero", {"page_size": "0"}, "page_size"),
        ("page_size too big", {"page_size": "251"}, "page_size"),
        ("page_size not a number", {"page_size": "ten"}, "page_size"),
        ("unknown status", {"statuses": "OPEN,DONE"}, "statuses"),
        ("bad created_after", {"created_after": "03/01/2026"}, "created_after"),
        ("bad cursor", {"cursor": "!!not-a-cursor!!"}, "cursor"),
    ],
)  # fmt: skip
async def test_invalid_list_queries_are_input_invalid(
    http: httpx.AsyncClient, _case: str, params: dict[str, str], mentions: str
) -> None:
    response = await http.get("/assessment/orders", params=params, headers=HEADERS)
    assert mentions in assert_error(response, 400, "PLATFORM.INPUT_INVALID")["message"]


@pytest.mark.parametrize(
    ("_case", "headers", "status", "code"),
    [
        ("no key", {"x-integration-id": "greenhouse:sandbox1"}, 401, "PLATFORM.AUTHENTICATION_INVALID"),
        ("wrong key", {**HEADERS, "authorization": "Bearer nope"}, 401, "PLATFORM.AUTHENTICATION_INVALID"),
        ("basic scheme", {**HEADERS, "authorization": "Basic c2FuZGJveC1rb21iby1rZXk6"}, 401,
         "PLATFORM.AUTHENTICATION_INVALID"),
        ("no integration", {"authorization": HEADERS["authorization"]}, 400, "PLATFORM.INPUT_INVALID"),
        ("other integration", {**HEADERS, "x-integration-id": "workday:other"}, 404, "PLATFORM.INTEGRATION_NOT_FOUND"),
    ],
)  # fmt: skip
async def test_auth_and_integration_are_checked_on_both_endpoints(
    http: httpx.AsyncClient, state: KomboSandbox, _case: str, headers: dict[str, str], status: int, code: str
) -> None:
    assert_error(await http.get("/assessment/orders", headers=headers), status, code)
    order_id = order_in(state, "OPEN")
    assert_error(await http.put(f"/assessment/orders/{order_id}/result", json=DONE, headers=headers), status, code)
    assert state.orders[order_id]["status"] == "OPEN" and order_id not in state.results


async def test_valid_write_updates_the_order(http: httpx.AsyncClient, state: KomboSandbox) -> None:
    order_id = order_in(state, "OPEN")
    body = {**DONE, "score": 42.5, "max_score": 50, "attributes": [
        {"type": "SUB_RESULT", "id": "logic", "label": "Logic", "score": {"value": 8, "max": 10}, "status": "COMPLETED"},
        {"type": "TEXT", "label": "Proctoring", "value": "No anomalies"}],
        "attachments": [{"name": "Report.pdf", "data_url": "https://vendor.example/r/1.pdf"},
                        {"name": "Notes.txt", "content_type": "text/plain", "data": "aGVsbG8="}],
        "remote_fields": {"greenhouse": {"x": 1}}}  # fmt: skip
    response = await http.put(f"/assessment/orders/{order_id}/result", json=body, headers=HEADERS)
    assert response.status_code == 200
    assert response.json() == {"status": "success", "data": {}, "warnings": []}
    assert state.orders[order_id]["status"] == "COMPLETED" and state.results[order_id] == body


async def test_seed_002_cancelled_example_needs_completed_at(http: httpx.AsyncClient, state: KomboSandbox) -> None:
    order_id = order_in(state, "OPEN")
    seed = {"status": "CANCELLED", "result_url": "https://serene-bump.org/"}
    response = await http.put(f"/assessment/orders/{order_id}/result", json=seed, headers=HEADERS)
    assert "completed_at" in assert_error(response, 400, "PLATFORM.INPUT_INVALID")["message"]
    seed["completed_at"] = "2026-05-04T12:00:00.000Z"
    response = await http.put(f"/assessment/orders/{order_id}/result", json=seed, headers=HEADERS)
    assert response.status_code == 200 and state.orders[order_id]["status"] == "CANCELLED"


async def test_remote_fields_for_another_ats_warn(http: httpx.AsyncClient, state: KomboSandbox) -> None:
    body = {**DONE, "remote_fields": {"smartrecruiters": {"scoreLabel": "Pts"}}}
    response = await http.put(f"/assessment/orders/{order_in(state, 'OPEN')}/result", json=body, headers=HEADERS)
    assert response.json()["warnings"] == [
        {"message": "remote_fields.smartrecruiters was ignored because this integration is greenhouse."}
    ]


async def test_unknown_order_is_404_not_found(http: httpx.AsyncClient) -> None:
    response = await http.put("/assessment/orders/GRKdd9dibYKKCrmGRSMJf3wu/result", json=DONE, headers=HEADERS)
    assert assert_error(response, 404, None)["title"] == "Not found"


def _with(**changes: Any) -> dict[str, Any]:
    return {k: v for k, v in {**DONE, **changes}.items() if v is not None}


@pytest.mark.parametrize(
    ("_case", "body", "mentions"),
    [
        ("not an object", [DONE], "object"),
        ("unknown key", _with(summary="Good"), "summary"),
        ("missing status", {k: v for k, v in DONE.items() if k != "status"}, "status"),
        ("status COMPLETE (prose typo)", _with(status="COMPLETE"), "status"),
        ("status REJECTED", _with(status="REJECTED"), "status"),
        ("missing result_url", {k: v for k, v in DONE.items() if k != "result_url"}, "result_url"),
        ("relative result_url", _with(result_url="/r/1"), "result_url"),
        ("completed_at with offset", _with(completed_at="2026-05-04T12:00:00+02:00"), "completed_at"),
        ("completed_at a number", _with(completed_at=1746360000), "completed_at"),
        ("score a string", _with(score="42"), "score"),
        ("max_score a bool", _with(max_score=True), "max_score"),
        ("attribute type unknown", _with(attributes=[{"type": "NUMBER", "label": "IQ", "value": "1"}]), "attributes[0].type"),
        ("TEXT without value", _with(attributes=[{"type": "TEXT", "label": "A"}]), "attributes[0].value"),
        ("SUB_RESULT max below 1", _with(attributes=[{"type": "SUB_RESULT", "id": "a", "label": "A",
                                                      "score": {"value": 0, "max": 0}, "status": "COMPLETED"}]),
         "attributes[0].score.max"),
        ("SUB_RESULT status OPEN", _with(attributes=[{"type": "SUB_RESULT", "id": "a", "label": "A",
                                                      "score": {"value": 1, "max": 2}, "status": "OPEN"}]),
         "attributes[0].status"),
        ("SUB_RESULT without id", _with(attributes=[{"type": "SUB_RESULT", "label": "A",
                                                     "score": {"value": 1, "max": 2}, "status": "COMPLETED"}]),
         "attributes[0].id"),
        ("six attachments", _with(attachments=[{"name": f"{i}.pdf", "data_url": "https://v.example/f"} for i in range(6)]),
         "attachments"),
        ("attachment without name", _with(attachments=[{"data_url": "https://v.example/f"}]), "attachments[0].name"),
        ("attachment without content", _with(attachments=[{"name": "a.pdf"}]), "attachments[0]"),
        ("data without content_type", _with(attachments=[{"name": "a.txt", "data": "aGVsbG8="}]), "content_type"),
        ("bad content_type", _with(attachments=[{"name": "a", "content_type": "pdf", "data_url": "https://v.example/f"}]),
         "content_type"),
        ("data not base64", _with(attachments=[{"name": "a", "content_type": "text/plain", "data": "%%%"}]), "data"),
        ("remote_fields a list", _with(remote_fields=["x"]), "remote_fields"),
    ],
)  # fmt: skip
async def test_invalid_bodies_are_input_invalid(
    http: httpx.AsyncClient, state: KomboSandbox, _case: str, body: Any, mentions: str
) -> None:
    order_id = order_in(state, "OPEN")
    response = await http.put(f"/assessment/orders/{order_id}/result", json=body, headers=HEADERS)
    assert mentions in assert_error(response, 400, "PLATFORM.INPUT_INVALID")["message"]
    assert state.orders[order_id]["status"] == "OPEN" and order_id not in state.results


@pytest.mark.parametrize(
    ("_case", "current", "sent", "accepted"),
    [
        ("open to completed", "OPEN", "COMPLETED", True),
        ("open to open", "OPEN", "OPEN", True),
        ("completed again", "COMPLETED", "COMPLETED", True),
        ("completed to cancelled", "COMPLETED", "CANCELLED", False),
        ("cancelled to open", "CANCELLED", "OPEN", False),
        ("rejected to completed", "REJECTED", "COMPLETED", False),
    ],
)  # fmt: skip
async def test_status_changes_only_while_open(
    http: httpx.AsyncClient, state: KomboSandbox, _case: str, current: str, sent: str, accepted: bool
) -> None:
    order_id = order_in(state, current)
    response = await http.put(f"/assessment/orders/{order_id}/result", json={**DONE, "status": sent}, headers=HEADERS)
    if accepted:
        assert response.status_code == 200 and state.orders[order_id]["status"] == sent
    else:
        error = assert_error(response, 400, "PLATFORM.INPUT_INVALID")
        assert error["message"] == "status can only be updated while the order is OPEN"
        assert state.orders[order_id]["status"] == current


async def test_recording_includes_refused_requests(http: httpx.AsyncClient, state: KomboSandbox) -> None:
    order_id = order_in(state, "OPEN")
    await http.put(f"/assessment/orders/{order_id}/result", json=DONE, headers={})
    await http.get("/assessment/orders", params={"statuses": "OPEN"}, headers=HEADERS)
    await http.put(f"/assessment/orders/{order_id}/result", json=DONE, headers=HEADERS)
    assert [(r.method, r.status) for r in state.received] == [("PUT", 401), ("GET", 200), ("PUT", 200)]
    assert state.received[1].query == {"statuses": ["OPEN"]} and state.received[1].body is None
    assert state.received[2].path == f"/v1/assessment/orders/{order_id}/result"
    assert state.received[2].headers["x-integration-id"] == "greenhouse:sandbox1"
    assert state.received[2].body == DONE
