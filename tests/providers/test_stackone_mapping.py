"""StackOne mapping: table-driven over tests/fixtures/stackone, plus order_from_stackone cases."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from providers.errors import ProviderBadResponseError
from providers.models import (
    Application,
    AssessmentOrder,
    Candidate,
    Job,
    OrderStatus,
    Package,
    ProviderName,
    ResultUpdate,
    Score,
)
from providers.stackone.mapping import order_from_stackone, result_to_stackone

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "stackone"
CASES = [json.loads(path.read_text()) for path in sorted(FIXTURES.glob("*.json"))]
NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def _translate(case: dict[str, Any]) -> Any:
    order = AssessmentOrder.model_validate(case["order"])
    update = ResultUpdate.model_validate(case["update"])
    return result_to_stackone(order, update, datetime.fromisoformat(case["now"]))


def test_fixtures_cover_the_contract() -> None:
    # given the fixture folder; then both seeds, every status row and every warning kind are there
    names = {case["name"] for case in CASES}
    for status in ("open", "in_progress", "completed", "completed_passed", "completed_failed", "cancelled",
                   "failed", "rejected", "expired"):
        assert f"status_{status}" in names
    assert {"seed_000_sdk_example", "seed_001_api_reference_example"} <= names
    warned = {(code, field.split("[")[0]) for case in CASES for code, field in case["expected_warnings"]}
    assert warned == {("APPROXIMATED", "status"), ("MOVED", "attachments"), ("MOVED", "attributes")}
    # StackOne can take every domain status, so its mapping has no error rule
    assert not [case for case in CASES if "expected_error" in case]


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_write(case: dict[str, Any]) -> None:
    # when the fixture's update is translated
    prepared = _translate(case)
    # then body, query and warnings are exactly the expected ones, and the body never has a top-level id
    assert prepared.body == case["expected_body"]
    assert prepared.params == case["expected_params"]
    assert [[w.code, w.field] for w in prepared.warnings] == case["expected_warnings"]
    assert all(w.message for w in prepared.warnings)
    assert "id" not in prepared.body
    if "expected_provider_status" in case:
        assert prepared.provider_status == case["expected_provider_status"]
        assert prepared.status is OrderStatus(case["expected_status"])


def test_body_is_plain_json() -> None:
    # given the richest seed; when translated; then the body survives a JSON round trip unchanged
    case = next(c for c in CASES if c["name"] == "seed_000_sdk_example")
    body = _translate(case).body
    assert json.loads(json.dumps(body)) == body


def test_naive_datetimes_are_taken_as_utc() -> None:
    case = next(c for c in CASES if c["name"] == "status_completed")
    order = AssessmentOrder.model_validate(case["order"])
    update = ResultUpdate(status=OrderStatus.COMPLETED, started_at=datetime(2026, 1, 2, 3, 4, 5, 6000))
    assert result_to_stackone(order, update, NOW).body["start_date"] == "2026-01-02T03:04:05.006Z"


# --------------------------------------------------------------------------- order_from_stackone

FULL_ORDER: dict[str, Any] = {
    "id": "5a1d3f0e-7c2b-4e8a-9f61-0b3c2d4e5f60",
    "remote_id": "gh-assess-30117",
    "package": {"id": "pkg-ts", "remote_id": "ts", "name": "TypeScript", "description": "Senior TS test"},
    "application": {"id": "app-1", "remote_id": "gh-app-1",
                    "application_status": {"value": "assessment", "source_value": "Assessment"}},
    "job": {"id": "job-1", "remote_id": "gh-job-1", "title": "Staff Engineer", "hiring_team": []},
    "candidate": {"id": "cand-1", "remote_id": "gh-cand-1", "first_name": "Grace", "last_name": "Hopper",
                  "emails": [{"type": "personal", "value": "grace@example.com"},
                             {"type": "work", "value": "g.hopper@example.org"}, {"type": "other"}],
                  "profile_url": "https://ats.example.com/c/1"},
    "requester": {"user_id": "u-1", "email": "recruiter@example.com"},
    "results_update_url": "https://api.stackone.com/unified/ats/assessments/orders/x/result",
    "future_field": {"kept": True},
}


def test_order_from_full_payload() -> None:
    # when a full StackOne order is read with no result yet
    order = order_from_stackone("conn-stackone", FULL_ORDER)
    # then every field StackOne gives lands in the domain order, and raw is the whole payload
    assert order.connection_id == "conn-stackone"
    assert order.provider is ProviderName.STACKONE
    assert order.provider_order_id == "5a1d3f0e-7c2b-4e8a-9f61-0b3c2d4e5f60"
    assert order.status is OrderStatus.OPEN
    assert order.provider_status is None
    assert order.package == Package(id="pkg-ts", name="TypeScript")
    assert order.application == Application(remote_id="app-1")
    assert order.job == Job(remote_id="job-1", title="Staff Engineer")
    assert order.candidate == Candidate(
        remote_id="cand-1", first_name="Grace", last_name="Hopper",
        emails=("grace@example.com", "g.hopper@example.org"), profile_url="https://ats.example.com/c/1",
    )  # fmt: skip
    assert order.raw == FULL_ORDER


def test_order_round_trips_the_candidate_id_into_the_write() -> None:
    # given an order read from StackOne; when a result is written for it
    order = order_from_stackone("conn-stackone", FULL_ORDER)
    body = result_to_stackone(order, ResultUpdate(status=OrderStatus.COMPLETED), NOW).body
    # then the PATCH names StackOne's candidate id
    assert body["candidate"] == {"id": "cand-1"}


@pytest.mark.parametrize(
    ("_case", "result", "status", "provider_status"),
    [
        ("initiated", {"result": {"value": "initiated", "source_value": "Open"}}, OrderStatus.OPEN, "initiated"),
        ("in_progress", {"result": {"value": "in_progress"}}, OrderStatus.IN_PROGRESS, "in_progress"),
        ("passed", {"result": {"value": "passed", "source_value": "Passed"}}, OrderStatus.COMPLETED, "passed"),
        ("failed", {"result": {"value": "failed"}}, OrderStatus.COMPLETED, "failed"),
        ("completed", {"result": {"value": "completed"}, "score": {"value": "80"}}, OrderStatus.COMPLETED,
         "completed"),
        ("cancelled", {"result": {"value": "cancelled"}}, OrderStatus.CANCELLED, "cancelled"),
        ("expired", {"result": {"value": "expired"}}, OrderStatus.EXPIRED, "expired"),
        ("no_result", None, OrderStatus.OPEN, None),
        ("result_without_status", {"summary": "only a summary"}, OrderStatus.OPEN, None),
        ("null_value", {"result": {"value": None}}, OrderStatus.OPEN, None),
        ("unknown", {"result": {"value": "unmapped_value", "source_value": "On hold"}}, OrderStatus.OPEN,
         "unmapped_value"),
        ("future_value", {"result": {"value": "under_review"}}, OrderStatus.OPEN, "under_review"),
    ],
)
def test_order_status_from_last_result(
    _case: str, result: dict[str, Any] | None, status: OrderStatus, provider_status: str | None
) -> None:
    order = order_from_stackone("conn-stackone", {"id": "so-2"}, result)
    assert order.status is status
    assert order.provider_status == provider_status
    assert order.raw == {"id": "so-2"}


def test_order_status_matches_what_a_write_promised() -> None:
    # given every write fixture; when the body it sent is read back as the last result
    for case in CASES:
        prepared = _translate(case)
        order = order_from_stackone("conn-stackone", case["order"]["raw"], prepared.body)
        # then the order's status is the one the write announced
        assert (order.status, order.provider_status) == (prepared.status, prepared.provider_status), case["name"]


def test_order_minimal_payload() -> None:
    order = order_from_stackone("conn-stackone", {"id": "so-3"})
    assert order.package is None and order.application is None and order.job is None
    assert order.candidate == Candidate()
    assert order.created_at is None


def test_order_package_known_only_by_remote_id() -> None:
    order = order_from_stackone("conn-stackone", {"id": "so-4", "package": {"remote_id": "ts", "name": None}})
    assert order.package == Package(id="ts")


@pytest.mark.parametrize(
    ("_case", "payload", "result"),
    [
        ("no_id", {"remote_id": "gh-1"}, None),
        ("id_not_string", {"id": 3}, None),
        ("candidate_not_object", {"id": "so-5", "candidate": "cand-1"}, None),
        ("emails_not_list", {"id": "so-5", "candidate": {"emails": "a@example.com"}}, None),
        ("result_not_object", {"id": "so-5"}, {"result": "passed"}),
        ("result_value_not_string", {"id": "so-5"}, {"result": {"value": 1}}),
    ],
)
def test_order_wrong_shape(_case: str, payload: dict[str, Any], result: dict[str, Any] | None) -> None:
    with pytest.raises(ProviderBadResponseError) as raised:
        order_from_stackone("conn-stackone", payload, result)
    assert raised.value.provider is ProviderName.STACKONE


def test_fields_an_earlier_result_set_and_this_one_leaves_out_are_sent_as_null() -> None:
    order = make_order_for_clearing()
    earlier = ResultUpdate(status=OrderStatus.COMPLETED, summary="first", score=Score(value=7, max=10),
                           result_url="https://r.example/1")  # fmt: skip
    now = ResultUpdate(status=OrderStatus.COMPLETED, result_url="https://r.example/2")
    for _ in range(2):  # the second time the earlier result's fields are remembered: the same answer
        prepared = result_to_stackone(order, now, NOW, earlier)
        assert prepared.body["summary"] is None and prepared.body["score"] is None
        assert prepared.body["result_url"] == "https://r.example/2"
        assert sorted(w.field for w in prepared.warnings if w.code == "CLEARED") == ["score", "summary"]
    # an earlier result that set nothing more clears nothing
    assert "summary" not in result_to_stackone(order, now, NOW, now).body
    # the candidate is part of the body: the same earlier result for an order with a candidate id
    with_candidate = order.model_copy(update={"candidate": order.candidate.model_copy(update={"remote_id": "c-1"})})
    assert result_to_stackone(with_candidate, now, NOW, earlier).body.get("candidate") == {"id": "c-1"}


def make_order_for_clearing():  # type: ignore[no-untyped-def]
    return AssessmentOrder(connection_id="c", provider=ProviderName.STACKONE, provider_order_id="o-1",
                           status=OrderStatus.OPEN, candidate=Candidate())  # fmt: skip
