"""StackOne webhooks: signature (configurable header and encoding), parsing, ids-only orders and their filling."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from providers.connections import Connection
from providers.errors import ForeignConnectionError, ProviderBadResponseError
from providers.models import OrderStatus, ProviderName
from providers.stackone import webhooks
from providers.stackone.webhooks import ApplicationDetails, CandidateDetails, JobDetails

SECRET = "stackone-test-secret"
CONNECTION = Connection(
    id="stackone-1", provider=ProviderName.STACKONE, base_url="http://stackone.test", api_key="k",
    account_id="acc-1", webhook_secret=SECRET,
)  # fmt: skip
FULL = {"id": "ord-1", "package": {"id": "pkg-1", "name": "TypeScript"},
        "candidate": {"id": "cand-1", "first_name": "Ada", "last_name": "Lovelace",
                      "emails": [{"type": "personal", "value": "ada@example.com"}]},
        "application": {"id": "app-1"}, "job": {"id": "job-1", "title": "Engineer"}}  # fmt: skip
IDS_ONLY = {"id": "ord-2", "package": {"id": "pkg-1"}, "candidate": {"id": "cand-2"},
            "application": {"id": "app-2"}, "job": {"id": "job-2"}}  # fmt: skip


def event(data: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    body = {"id": "evt-1", "event": "ats_assessments.created", "account_id": "acc-1", "record_id": "ord-1",
            "event_date": "2026-03-01T10:00:00.000Z", "provider": "greenhouse", "event_data": data or FULL}  # fmt: skip
    return {**body, **fields}


def mac(raw: bytes, secret: str = SECRET) -> bytes:
    return hmac.new(secret.encode(), raw, hashlib.sha256).digest()


RAW = json.dumps(event()).encode()


@pytest.mark.parametrize(
    ("_case", "encoding", "header", "value"),
    [
        ("default_unpadded", None, "x-stackone-signature", base64.urlsafe_b64encode(mac(RAW)).decode().rstrip("=")),
        ("default_padded", None, "x-stackone-signature", base64.urlsafe_b64encode(mac(RAW)).decode()),
        ("base64", "base64", "x-stackone-signature", base64.b64encode(mac(RAW)).decode()),
        ("hex", "hex", "x-stackone-signature", mac(RAW).hex()),
        ("hex_upper", "hex", "x-stackone-signature", mac(RAW).hex().upper()),
    ],
)
def test_accepts_the_signature_in_the_connections_encoding(
    _case: str, encoding: str | None, header: str, value: str
) -> None:
    connection = CONNECTION.model_copy(update={"webhook_signature_encoding": encoding})
    assert webhooks.verify(connection, {header: value}, RAW)


def test_the_header_name_is_a_connection_setting() -> None:
    value = base64.urlsafe_b64encode(mac(RAW)).decode()
    custom = CONNECTION.model_copy(update={"webhook_signature_header": "X-Custom-Sig"})
    assert webhooks.verify(custom, {"x-custom-sig": value}, RAW)
    assert not webhooks.verify(custom, {"x-stackone-signature": value}, RAW)


@pytest.mark.parametrize(
    ("_case", "headers"),
    [
        ("missing", {}),
        ("wrong_secret", {"x-stackone-signature": base64.urlsafe_b64encode(mac(RAW, "other")).decode()}),
        ("other_body", {"x-stackone-signature": base64.urlsafe_b64encode(mac(b"{}")).decode()}),
        ("wrong_encoding", {"x-stackone-signature": mac(RAW).hex()}),
    ],
)
def test_refuses_a_bad_signature(_case: str, headers: dict[str, str]) -> None:
    assert not webhooks.verify(CONNECTION, headers, RAW)


def test_parses_a_complete_order() -> None:
    parsed = webhooks.parse_event(CONNECTION, event(), RAW)
    assert (parsed.event_key, parsed.event_type) == ("evt-1", "ats_assessments.created")
    (order,) = parsed.orders
    assert (order.provider_order_id, order.status) == ("ord-1", OrderStatus.OPEN)
    assert order.candidate.emails == ("ada@example.com",)
    assert order.job is not None and order.job.title == "Engineer"
    assert not webhooks.details_pending(order)


def test_marks_an_ids_only_order_as_pending() -> None:
    body = event(IDS_ONLY, record_id="ord-2")
    (order,) = webhooks.parse_event(CONNECTION, body, json.dumps(body).encode()).orders
    assert webhooks.details_pending(order)
    assert order.raw[webhooks.PENDING_KEY] is True
    assert order.candidate.remote_id == "cand-2" and order.candidate.emails == ()


def test_without_an_event_id_the_key_is_the_content_whatever_its_serialisation() -> None:
    body = {k: v for k, v in event().items() if k != "id"}
    key = webhooks.parse_event(CONNECTION, body, json.dumps(body).encode()).event_key
    reordered = dict(reversed(body.items()))
    assert webhooks.parse_event(CONNECTION, reordered, json.dumps(reordered, indent=2).encode()).event_key == key
    changed = {**body, "event_date": "2026-11-03T09:00:00.000Z"}
    assert webhooks.parse_event(CONNECTION, changed, json.dumps(changed).encode()).event_key != key


def test_the_record_id_stands_in_for_a_missing_order_id() -> None:
    body = event({k: v for k, v in FULL.items() if k != "id"}, record_id="ord-9")
    (order,) = webhooks.parse_event(CONNECTION, body, json.dumps(body).encode()).orders
    assert order.provider_order_id == "ord-9"


def test_a_deletion_is_recorded_without_orders() -> None:
    body = event(event="ats_assessments.deleted")
    assert webhooks.parse_event(CONNECTION, body, json.dumps(body).encode()).orders == ()


@pytest.mark.parametrize(
    ("_case", "body"),
    [
        ("no_event", {k: v for k, v in event().items() if k != "event"}),
        ("other_event", event(event="ats_candidates.created")),
        ("no_event_data", event(event_data=None)),
        ("event_data_not_object", event(event_data=[1])),
        ("order_without_id", event({**FULL, "id": None}, record_id=None)),
        ("candidate_not_object", event({**FULL, "candidate": "cand-1"})),
    ],
)
def test_refuses_a_body_that_does_not_fit(_case: str, body: dict[str, Any]) -> None:
    with pytest.raises(ProviderBadResponseError):
        webhooks.parse_event(CONNECTION, body, json.dumps(body).encode())


def test_fills_an_ids_only_order_from_the_fetched_records() -> None:
    body = event(IDS_ONLY, record_id="ord-2")
    (pending,) = webhooks.parse_event(CONNECTION, body, json.dumps(body).encode()).orders
    pending = pending.model_copy(update={"status": OrderStatus.COMPLETED, "provider_status": "passed"})
    candidate = CandidateDetails.model_validate(
        {"id": "cand-2", "remote_id": "gh-7", "name": "Alan Turing", "first_name": "Alan", "last_name": "Turing",
         "emails": [{"type": "work", "value": "alan@example.com"}], "phone_numbers": [{"phone": "+44 1"}]})  # fmt: skip
    job = JobDetails.model_validate({"id": "job-2", "remote_id": "gh-j", "title": "Researcher", "code": "R-1"})
    filled = webhooks.order_with_details(pending, candidate, ApplicationDetails(id="app-2", remote_id="gh-a"), job)
    assert not webhooks.details_pending(filled)
    assert (filled.status, filled.provider_status) == (OrderStatus.COMPLETED, "passed")
    assert filled.candidate.emails == ("alan@example.com",)
    assert (filled.candidate.name, filled.candidate.phones) == ("Alan Turing", ("+44 1",))
    assert filled.job is not None and (filled.job.title, filled.job.code) == ("Researcher", "R-1")
    assert filled.raw["candidate"]["first_name"] == "Alan" and filled.raw["package"] == {"id": "pkg-1"}


def test_a_single_email_field_fills_the_emails() -> None:
    order = webhooks.parse_event(CONNECTION, event(IDS_ONLY), RAW).orders[0]
    filled = webhooks.order_with_details(order, CandidateDetails(id="cand-2", email="x@example.com"), None, None)
    assert filled.candidate.emails == ("x@example.com",)


def test_refuses_an_event_of_another_account() -> None:
    body = event(account_id="acc-2")
    with pytest.raises(ForeignConnectionError):
        webhooks.parse_event(CONNECTION, body, json.dumps(body).encode())
