"""Kombo mapping: table-driven over tests/fixtures/kombo, plus order_from_kombo cases."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from providers.errors import DomainError, ProviderBadResponseError
from providers.kombo.mapping import order_from_kombo, result_to_kombo
from providers.models import (
    Application,
    AssessmentOrder,
    Candidate,
    Job,
    OrderStatus,
    Package,
    ProviderName,
    ResultUpdate,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kombo"
CASES = [json.loads(path.read_text()) for path in sorted(FIXTURES.glob("*.json"))]
WRITES = [case for case in CASES if "expected_error" not in case]
ERRORS = [case for case in CASES if "expected_error" in case]


def _translate(case: dict[str, Any]) -> Any:
    order = AssessmentOrder.model_validate(case["order"])
    update = ResultUpdate.model_validate(case["update"])
    return result_to_kombo(order, update, datetime.fromisoformat(case["now"]))


def test_fixtures_cover_the_contract() -> None:
    # given the fixture folder; then every status row, both seeds and every error kind are there
    names = {case["name"] for case in CASES}
    for status in ("open", "in_progress", "completed", "completed_passed", "completed_failed", "cancelled",
                   "failed", "rejected", "expired"):
        assert f"status_{status}" in names
    assert {"seed_002_ts_sdk_example", "seed_003_py_sdk_fields"} <= names
    assert {case["expected_error"] for case in ERRORS} == {"BAD_USER_INPUT", "UNSUPPORTED_BY_PROVIDER", "CONFLICT"}
    warned = {(code, field) for case in WRITES for code, field in case["expected_warnings"]}
    assert {("MOVED", "outcome"), ("MOVED", "summary"), ("MOVED", "score.min"), ("MOVED", "score.label"),
            ("MOVED", "startedAt"), ("MOVED", "candidateProfileUrl"), ("DEFAULTED", "completedAt"),
            ("APPROXIMATED", "status"), ("APPROXIMATED", "attributes[0]"), ("DEFAULTED", "attributes[0].id"),
            ("DEFAULTED", "attributes[0].status"), ("DEFAULTED", "attachments[1].name")} <= warned


@pytest.mark.parametrize("case", WRITES, ids=[case["name"] for case in WRITES])
def test_write(case: dict[str, Any]) -> None:
    # when the fixture's update is translated
    prepared = _translate(case)
    # then body, query and warnings are exactly the expected ones
    assert prepared.body == case["expected_body"]
    assert prepared.params == case["expected_params"]
    assert [[w.code, w.field] for w in prepared.warnings] == case["expected_warnings"]
    assert all(w.message for w in prepared.warnings)
    assert prepared.provider_status == case["expected_body"]["status"]
    assert prepared.status == OrderStatus(case["expected_body"]["status"])


@pytest.mark.parametrize("case", ERRORS, ids=[case["name"] for case in ERRORS])
def test_refused(case: dict[str, Any]) -> None:
    # when the fixture's update is translated; then the call is refused with the expected code and field
    with pytest.raises(DomainError) as raised:
        _translate(case)
    assert raised.value.code.value == case["expected_error"]
    assert raised.value.field == case["expected_field"]
    assert raised.value.provider is ProviderName.KOMBO


def test_body_numbers_stay_numbers() -> None:
    # given a score; when translated; then Kombo gets JSON numbers, never strings
    case = next(c for c in WRITES if c["name"] == "score_value_max")
    body = _translate(case).body
    assert isinstance(body["score"], float) and isinstance(body["max_score"], float)


def test_passthrough_is_not_mutated() -> None:
    # given a passthrough the score label is merged into
    case = next(c for c in WRITES if c["name"] == "score_label_merged_into_passthrough")
    update = ResultUpdate.model_validate(case["update"])
    before = json.dumps(update.passthrough, sort_keys=True)
    # when translated; then the caller's passthrough is unchanged
    result_to_kombo(AssessmentOrder.model_validate(case["order"]), update, datetime.now(UTC))
    assert json.dumps(update.passthrough, sort_keys=True) == before


# --------------------------------------------------------------------------- order_from_kombo

# The `assessment:order-received` example of the KB-spec (its `data`), with `integration_id`.
WEBHOOK_ORDER: dict[str, Any] = {
    "id": "B5KQKhAgTv6ZwzrfAbqbhipd",
    "integration_id": "workday:CBNMt7dSNCzBdnRTx87dev4E",
    "package_id": "typescript_test",
    "status": "OPEN",
    "candidate": {"remote_id": "12345", "email": "john.doe@gmail.com", "first_name": "John", "last_name": "Doe",
                  "phone": "+1 123 456 7890"},
    "application": {"remote_id": "54321"},
    "job": {
        "remote_id": "67890",
        "name": "Bottle Opener",
        "job_code": "BO-2024-01",
        "description": "<p>We are looking for a skilled individual.</p>",
        "location": {"street_1": "Lohmühlenstraße 65", "city": "Berlin", "state": "Berlin", "zip_code": "12435",
                     "country": "DE", "raw": "Berlin, Germany"},
        "hiring_team": [{"first_name": "Jane", "last_name": "Doe", "remote_id": "78901", "email": "jane.doe@gmail.com",
                         "hiring_team_roles": ["RECRUITER"]}],
    },
}


def test_order_from_webhook_data() -> None:
    # when the webhook's order is read
    order = order_from_kombo("conn-kombo", WEBHOOK_ORDER)
    # then every field Kombo gives lands in the domain order, and raw is the whole payload
    assert order.connection_id == "conn-kombo"
    assert order.provider is ProviderName.KOMBO
    assert order.provider_order_id == "B5KQKhAgTv6ZwzrfAbqbhipd"
    assert order.status is OrderStatus.OPEN
    assert order.provider_status == "OPEN"
    assert order.package == Package(id="typescript_test")
    assert order.candidate == Candidate(
        remote_id="12345", first_name="John", last_name="Doe", emails=("john.doe@gmail.com",),
        phones=("+1 123 456 7890",),
    )
    assert order.application == Application(remote_id="54321")
    assert order.job == Job(
        remote_id="67890", title="Bottle Opener", code="BO-2024-01",
        description="<p>We are looking for a skilled individual.</p>", location="Berlin, Germany",
    )
    assert order.created_at is None
    assert order.raw == WEBHOOK_ORDER
    assert order.raw is not WEBHOOK_ORDER


def test_order_from_list_item_with_nulls() -> None:
    # given a list item with every nullable field null (and no integration_id, as on the GET)
    payload = {
        "id": "GRKdd9dibYKKCrmGRSMJf3wu", "package_id": "typescript_test", "status": "COMPLETED",
        "candidate": {"remote_id": None, "email": "a@example.com", "first_name": None, "last_name": None,
                      "phone": None},
        "application": {"remote_id": None},
        "job": {"remote_id": None, "name": None, "job_code": None, "description": None, "location": None,
                "hiring_team": []},
    }
    order = order_from_kombo("conn-kombo", payload)
    assert order.status is OrderStatus.COMPLETED
    assert order.candidate == Candidate(emails=("a@example.com",))
    assert order.application is None and order.job is None
    assert order.raw == payload


def test_order_location_from_parts() -> None:
    payload = {**WEBHOOK_ORDER, "job": {"name": "Dev", "location": {"city": "Berlin", "zip_code": "12435",
                                                                    "country": "DE", "raw": None}}}
    order = order_from_kombo("conn-kombo", payload)
    assert order.job == Job(title="Dev", location="12435, Berlin, DE")


@pytest.mark.parametrize(
    ("_case", "status", "expected"),
    [
        ("open", "OPEN", OrderStatus.OPEN),
        ("completed", "COMPLETED", OrderStatus.COMPLETED),
        ("cancelled", "CANCELLED", OrderStatus.CANCELLED),
        ("rejected", "REJECTED", OrderStatus.REJECTED),
        ("unknown_kept_raw", "ON_HOLD", OrderStatus.OPEN),
        ("absent_as_on_the_open_list", None, OrderStatus.OPEN),
    ],
)
def test_order_status(_case: str, status: str | None, expected: OrderStatus) -> None:
    payload: dict[str, Any] = {"id": "GRKdd9dibYKKCrmGRSMJf3wu"}
    if status is not None:
        payload["status"] = status
    order = order_from_kombo("conn-kombo", payload)
    assert order.status is expected
    assert order.provider_status == status


@pytest.mark.parametrize(
    ("_case", "payload"),
    [
        ("no_id", {"status": "OPEN"}),
        ("empty_id", {"id": ""}),
        ("id_not_string", {"id": 42}),
        ("status_not_string", {"id": "o1", "status": 3}),
        ("candidate_not_object", {"id": "o1", "candidate": "John"}),
        ("location_not_object", {"id": "o1", "job": {"location": ["Berlin"]}}),
    ],
)
def test_order_wrong_shape(_case: str, payload: dict[str, Any]) -> None:
    with pytest.raises(ProviderBadResponseError) as raised:
        order_from_kombo("conn-kombo", payload)
    assert raised.value.provider is ProviderName.KOMBO
