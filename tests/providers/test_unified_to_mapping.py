"""Unified.to mapping: table-driven over tests/fixtures/unified_to, plus order_from_unified_to cases."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from providers.connections import Connection
from providers.errors import DomainError, ProviderBadResponseError
from providers.models import (
    Application,
    AssessmentOrder,
    Job,
    OrderStatus,
    Package,
    ProviderName,
    ResultUpdate,
)
from providers.unified_to.mapping import order_from_unified_to, result_to_unified_to

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "unified_to"
CASES = [json.loads(path.read_text()) for path in sorted(FIXTURES.glob("*.json"))]
WRITES = [case for case in CASES if "expected_error" not in case]
ERRORS = [case for case in CASES if "expected_error" in case]
CONNECTION = {
    "id": "conn-unified",
    "provider": "UNIFIED_TO",
    "base_url": "http://unified.test",
    "api_key": "unified-test-key",
    "connection_id": "66a1f0c2b7e4a9d3c1f0e8a1",
    "workspace_id": "66a1f0c2b7e4a9d3c1f0e8a0",
}


def _translate(case: dict[str, Any]) -> Any:
    connection = Connection.model_validate({**CONNECTION, **case.get("connection", {})})
    order = AssessmentOrder.model_validate(case["order"])
    update = ResultUpdate.model_validate(case["update"])
    now = datetime.fromisoformat(case["now"])
    return result_to_unified_to(order, update, now, connection)


def test_fixtures_cover_the_contract() -> None:
    # given the fixture folder; then every status row, the seed and the error kinds are there
    names = {case["name"] for case in CASES}
    for status in ("open", "in_progress", "completed", "completed_passed", "completed_failed", "cancelled",
                   "failed", "rejected", "expired"):
        assert f"status_{status}" in names
    assert "seed_004_put_order" in names
    assert {case["expected_error"] for case in ERRORS} == {"BAD_USER_INPUT", "UNSUPPORTED_BY_PROVIDER"}


@pytest.mark.parametrize("case", WRITES, ids=[case["name"] for case in WRITES])
def test_write(case: dict[str, Any]) -> None:
    # when the fixture's update is translated
    prepared = _translate(case)
    # then body, query and warnings are exactly the expected ones
    assert prepared.body == case["expected_body"]
    assert prepared.params == case["expected_params"]
    assert [[w.code, w.field] for w in prepared.warnings] == case["expected_warnings"]
    assert all(w.message for w in prepared.warnings)
    if "expected_provider_status" in case:
        assert prepared.provider_status == case["expected_provider_status"]
        assert prepared.status == OrderStatus(case["expected_status"])


@pytest.mark.parametrize("case", ERRORS, ids=[case["name"] for case in ERRORS])
def test_refused(case: dict[str, Any]) -> None:
    # when the fixture's update is translated; then the call is refused with the expected code
    with pytest.raises(DomainError) as raised:
        _translate(case)
    assert raised.value.code.value == case["expected_error"]
    assert raised.value.field == case["expected_field"]
    assert raised.value.provider is ProviderName.UNIFIED_TO


def test_write_does_not_touch_the_stored_order() -> None:
    # given a case that merges into the stored raw order
    case = next(c for c in WRITES if c["name"] == "passthrough_list_fields_raw_object_body")
    order = AssessmentOrder.model_validate(case["order"])
    before = json.dumps(order.raw, sort_keys=True)
    connection = Connection.model_validate(CONNECTION)
    # when translated
    result_to_unified_to(order, ResultUpdate.model_validate(case["update"]), datetime.now(UTC), connection)
    # then the order's raw record is unchanged
    assert json.dumps(order.raw, sort_keys=True) == before


def test_missing_connection_id_is_refused() -> None:
    order = AssessmentOrder(
        connection_id="conn-unified", provider=ProviderName.UNIFIED_TO, provider_order_id="o1",
        status=OrderStatus.OPEN, raw={"id": "o1", "workspace_id": "ws"},
    )
    connection = Connection.model_validate({**CONNECTION, "connection_id": None})
    with pytest.raises(DomainError) as raised:
        result_to_unified_to(order, ResultUpdate(status=OrderStatus.OPEN), datetime.now(UTC), connection)
    assert raised.value.code.value == "BAD_USER_INPUT"
    assert "connection_id" in raised.value.message


# --------------------------------------------------------------------------- order_from_unified_to

FULL_ORDER: dict[str, Any] = {
    "id": "uo_1",
    "created_at": "2026-03-02T10:15:00Z",
    "updated_at": "2026-03-04T08:00:00.250Z",
    "workspace_id": "ws",
    "connection_id": "cn",
    "package_id": "sql-fundamentals",
    "status": "IN_PROGRESS",
    "candidate_id": "cand-1",
    "application_id": "app-1",
    "job_id": "job-1",
    "profile_name": "Grace Hopper",
    "profile_first_name": "Grace",
    "profile_last_name": "Hopper",
    "profile_emails": ["grace@example.com", "g.hopper@example.org"],
    "profile_telephones": ["+1 555 0100"],
    "profile_resume_url": "https://files.example.com/cv/grace.pdf",
    "response_score": 12,
    "future_field": {"kept": True},
}


def test_order_from_full_payload() -> None:
    # when a full Unified.to order is read
    order = order_from_unified_to("conn-unified", FULL_ORDER)
    # then every field the provider gives lands in the domain order, and raw is the whole payload
    assert order.connection_id == "conn-unified"
    assert order.provider is ProviderName.UNIFIED_TO
    assert order.provider_order_id == "uo_1"
    assert order.status is OrderStatus.IN_PROGRESS
    assert order.provider_status == "IN_PROGRESS"
    assert order.package == Package(id="sql-fundamentals")
    assert order.application == Application(remote_id="app-1")
    assert order.job == Job(remote_id="job-1")
    assert order.candidate.remote_id == "cand-1"
    assert (order.candidate.first_name, order.candidate.last_name) == ("Grace", "Hopper")
    assert order.candidate.name == "Grace Hopper"
    assert order.candidate.emails == ("grace@example.com", "g.hopper@example.org")
    assert order.candidate.phones == ("+1 555 0100",)
    assert order.candidate.resume_url == "https://files.example.com/cv/grace.pdf"
    assert order.created_at == datetime(2026, 3, 2, 10, 15, tzinfo=UTC)
    assert order.updated_at == datetime(2026, 3, 4, 8, 0, 0, 250000, tzinfo=UTC)
    assert order.raw == FULL_ORDER


@pytest.mark.parametrize(
    ("_case", "status", "expected"),
    [
        ("open", "OPEN", OrderStatus.OPEN),
        ("in_progress", "IN_PROGRESS", OrderStatus.IN_PROGRESS),
        ("completed", "COMPLETED", OrderStatus.COMPLETED),
        ("failed", "FAILED", OrderStatus.FAILED),
        ("rejected", "REJECTED", OrderStatus.REJECTED),
        ("unknown", "ON_HOLD", OrderStatus.OPEN),
        ("absent", None, OrderStatus.OPEN),
    ],
)
def test_order_status(_case: str, status: str | None, expected: OrderStatus) -> None:
    payload = {"id": "uo_2", "workspace_id": "ws", "connection_id": "cn"}
    if status is not None:
        payload["status"] = status
    order = order_from_unified_to("conn-unified", payload)
    assert order.status is expected
    assert order.provider_status == status


def test_order_minimal_payload() -> None:
    order = order_from_unified_to("conn-unified", {"id": "uo_3"})
    assert order.package is None and order.application is None and order.job is None
    assert order.candidate.emails == () and order.candidate.remote_id is None
    assert order.created_at is None


@pytest.mark.parametrize(
    ("_case", "payload"),
    [
        ("no_id", {"status": "OPEN"}),
        ("status_not_string", {"id": "uo_4", "status": 3}),
        ("score_not_number", {"id": "uo_4", "response_score": "high"}),
        ("emails_not_list", {"id": "uo_4", "profile_emails": "a@example.com"}),
        ("bad_date", {"id": "uo_4", "created_at": "yesterday"}),
    ],
)
def test_order_wrong_shape(_case: str, payload: dict[str, Any]) -> None:
    with pytest.raises(ProviderBadResponseError):
        order_from_unified_to("conn-unified", payload)
