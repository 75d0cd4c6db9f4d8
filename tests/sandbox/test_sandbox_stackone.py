"""The StackOne sandbox: Basic auth, x-account-id, the current result DTO, heartbeat and recording."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from sandbox.stackone import StackOneSandbox, create_app

NOW = datetime(2026, 5, 4, 12, 0, 0, 250000, tzinfo=UTC)
KEY, ACCOUNT = "sandbox-stackone-key", "sandbox-account-1"
SEED_001_BODY: dict[str, Any] = {  # seed 001 without the removed `id`
    "score": {"label": "Percentage", "value": "80", "min": "0", "max": "100"},
    "start_date": "2021-01-01T01:01:01.000Z",
    "submission_date": "2021-01-01T01:01:01.000Z",
    "summary": "Test is passed",
    "result": {"value": "passed", "source_value": "Passed"},
    "result_url": "https://exmaple.com/result?id=xyz",
    "attachments": [{"url": "http://example.com/resume.pdf", "content_type": {"value": "text", "source_value": "Text"}}],
    "candidate": {"id": "8187e5da-dc77-475e-9949-af0f1fa4e4e3", "profile_url": "https://exmaple.com/candidate?id=xyz"},
    "passthrough": {"other_known_names": "John Doe"},
}  # fmt: skip


def basic(user: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


HEADERS = {"authorization": basic(KEY), "x-account-id": ACCOUNT}


@pytest.fixture
def state() -> StackOneSandbox:
    box = StackOneSandbox(clock=lambda: NOW)
    box.seed()
    return box


@pytest.fixture
async def http(state: StackOneSandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://stackone.test") as client:
        yield client


def open_order(state: StackOneSandbox) -> str:
    return next(oid for oid in state.orders if oid not in state.results)


def url(order_id: str) -> str:
    return f"/unified/ats/assessments/orders/{order_id}/result"


def assert_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status
    body: dict[str, Any] = response.json()
    assert set(body) == {"statusCode", "message", "timestamp"}
    assert body["statusCode"] == status and body["timestamp"] == "2026-05-04T12:00:00.250Z"
    return body


def test_seed_has_orders_in_the_assessment_order_shape_and_results_in_several_states(state: StackOneSandbox) -> None:
    keys = {"id", "remote_id", "package", "application", "job", "candidate", "requester", "results_update_url"}
    assert len(state.orders) >= 5 and all(set(o) == keys for o in state.orders.values())
    assert all(o["candidate"]["emails"][0]["value"] for o in state.orders.values())
    values = sorted(r["result"]["value"] for r in state.results.values())
    assert values == ["cancelled", "in_progress", "passed"]
    assert len([oid for oid in state.orders if oid not in state.results]) == 3


async def test_valid_write_is_stored_and_answered(http: httpx.AsyncClient, state: StackOneSandbox) -> None:
    order_id = open_order(state)
    response = await http.patch(url(order_id), json=SEED_001_BODY, headers=HEADERS)
    assert response.status_code == 200
    assert response.json() == {"statusCode": 200, "message": "Record updated successfully.",
                               "timestamp": "2026-05-04T12:00:00.250Z"}  # fmt: skip
    assert "preference-applied" not in response.headers
    assert state.results[order_id] == SEED_001_BODY


async def test_any_password_is_accepted(http: httpx.AsyncClient, state: StackOneSandbox) -> None:
    headers = {**HEADERS, "authorization": basic(KEY, "ignored")}
    response = await http.patch(url(open_order(state)), json={}, headers=headers)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("_case", "headers", "status", "message"),
    [
        ("no authorization", {"x-account-id": ACCOUNT}, 401, "Unauthorized"),
        ("wrong key", {"authorization": basic("other-key"), "x-account-id": ACCOUNT}, 401, "Unauthorized"),
        ("bearer instead of basic", {"authorization": f"Bearer {KEY}", "x-account-id": ACCOUNT}, 401, "Unauthorized"),
        ("garbage basic", {"authorization": "Basic !!!", "x-account-id": ACCOUNT}, 401, "Unauthorized"),
        ("no account", {"authorization": basic(KEY)}, 400, "x-account-id header is required"),
    ],
)  # fmt: skip
async def test_auth_and_account_are_checked(
    http: httpx.AsyncClient, state: StackOneSandbox, _case: str, headers: dict[str, str], status: int, message: str
) -> None:
    order_id = open_order(state)
    response = await http.patch(url(order_id), json=SEED_001_BODY, headers=headers)
    assert assert_error(response, status)["message"] == message
    assert order_id not in state.results


async def test_wrong_account_is_forbidden(http: httpx.AsyncClient, state: StackOneSandbox) -> None:
    response = await http.patch(url(open_order(state)), json={}, headers={**HEADERS, "x-account-id": "acct-2"})
    assert_error(response, 403)


async def test_unknown_order_is_404(http: httpx.AsyncClient) -> None:
    response = await http.patch(url("does-not-exist"), json=SEED_001_BODY, headers=HEADERS)
    assert "does-not-exist" in assert_error(response, 404)["message"]


def _with(**changes: Any) -> dict[str, Any]:
    return {**SEED_001_BODY, **changes}


@pytest.mark.parametrize(
    ("_case", "body", "mentions"),
    [
        ("stale id (SO-spec-2502 only)", _with(id="8187e5da-dc77-475e-9949-af0f1fa4e4e3"), "id"),
        ("unknown key", _with(score_value="80"), "score_value"),
        ("not an object", [SEED_001_BODY], "object"),
        ("score value a number", _with(score={"value": 80, "max": "100"}), "score.value"),
        ("score max a number", _with(score={"value": "80", "max": 100}), "score.max"),
        ("result value unknown", _with(result={"value": "bogus"}), "result.value"),
        ("result value upper case", _with(result={"value": "PASSED"}), "result.value"),
        ("start_date not a date", _with(start_date="yesterday"), "start_date"),
        ("submission_date without zone", _with(submission_date="2021-01-01T01:01:01"), "submission_date"),
        ("attachment type unknown", _with(attachments=[{"url": "https://x.example/a", "content_type": {"value": "image"}}]),
         "content_type.value"),
        ("attachment without url", _with(attachments=[{"content_type": {"value": "pdf"}}]), "url"),
        ("candidate id a number", _with(candidate={"id": 7}), "candidate.id"),
        ("passthrough a list", _with(passthrough=["x"]), "passthrough"),
        ("summary a number", _with(summary=3), "summary"),
    ],
)  # fmt: skip
async def test_invalid_bodies_are_refused(
    http: httpx.AsyncClient, state: StackOneSandbox, _case: str, body: Any, mentions: str
) -> None:
    order_id = open_order(state)
    response = await http.patch(url(order_id), json=body, headers=HEADERS)
    assert mentions in assert_error(response, 400)["message"]
    assert order_id not in state.results


async def test_current_enum_values_and_nulls_are_accepted(http: httpx.AsyncClient, state: StackOneSandbox) -> None:
    body = {"result": {"value": "in_progress", "source_value": None}, "score": None, "summary": None,
            "attachments": [{"url": "https://x.example/r.mp4", "content_type": {"value": "video"}}]}  # fmt: skip
    response = await http.patch(url(open_order(state)), json=body, headers=HEADERS)
    assert response.status_code == 200


async def test_malformed_json_is_400(http: httpx.AsyncClient, state: StackOneSandbox) -> None:
    response = await http.patch(url(open_order(state)), content=b"{nope", headers=HEADERS)
    assert_error(response, 400)


async def test_heartbeat_prefixes_newlines_and_says_so(http: httpx.AsyncClient, state: StackOneSandbox) -> None:
    response = await http.patch(url(open_order(state)), json=SEED_001_BODY, headers={**HEADERS, "prefer": "heartbeat"})
    assert response.status_code == 200
    assert response.headers["preference-applied"] == "heartbeat"
    assert response.content.startswith(b"\n\n{")
    assert json.loads(response.content)["message"] == "Record updated successfully."


async def test_recording_includes_refused_requests(http: httpx.AsyncClient, state: StackOneSandbox) -> None:
    order_id = open_order(state)
    await http.patch(url(order_id), json=SEED_001_BODY, headers={"x-account-id": ACCOUNT})
    await http.patch(url(order_id), json=SEED_001_BODY, headers=HEADERS, params={"raw": "true"})
    assert [(r.method, r.status) for r in state.received] == [("PATCH", 401), ("PATCH", 200)]
    last = state.received[-1]
    assert last.path == url(order_id) and last.query == {"raw": ["true"]}
    assert last.headers["x-account-id"] == ACCOUNT and last.body == SEED_001_BODY
    assert json.loads(last.raw_body) == SEED_001_BODY


async def test_unrouted_paths_use_the_error_envelope(http: httpx.AsyncClient, state: StackOneSandbox) -> None:
    response = await http.get(f"/unified/ats/assessments/orders/{open_order(state)}", headers=HEADERS)
    assert_error(response, 404)
    assert state.received[-1].status == 404
