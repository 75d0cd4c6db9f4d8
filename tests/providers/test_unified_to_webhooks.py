"""Unified.to webhooks: the in-body `sig` check and parsing, pure (signatures computed here)."""

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
from providers.unified_to import webhooks

SECRET = "workspace-secret"
CONNECTION = Connection(
    id="unified-1", provider=ProviderName.UNIFIED_TO, base_url="http://unified.test", api_key="k",
    connection_id="conn-1", workspace_id="ws-1", webhook_secret=SECRET,
)  # fmt: skip
ORDER = {"id": "ord-1", "connection_id": "conn-1", "workspace_id": "ws-1", "package_id": "pkg-1",
         "status": "OPEN", "candidate_id": "cand-1", "job_id": "job-1",
         "profile_name": "Grace Hopper", "profile_emails": ["grace@example.com"],
         "created_at": "2026-03-01T10:00:00Z"}  # fmt: skip


def delivery(data: list[Any], *, event: str = "created", secret: str = SECRET, hex_sig: bool = False) -> dict[str, Any]:
    nonce = "n0nce-42"
    message = (json.dumps(data, separators=(",", ":"), ensure_ascii=False) + nonce).encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha1).digest()
    sig = digest.hex() if hex_sig else base64.b64encode(digest).decode()
    webhook = {"id": "wh-1", "object_type": "assessment_order", "event": event, "connection_id": "conn-1"}
    return {"data": data, "webhook": webhook, "nonce": nonce, "sig": sig}


def raw(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def test_accepts_the_base64_sha1_signature_over_data_and_nonce() -> None:
    body = delivery([ORDER, {**ORDER, "id": "ord-2", "profile_name": "Zoë"}])
    assert webhooks.verify(CONNECTION, {}, raw(body))


def test_hex_encoding_is_a_connection_setting() -> None:
    body = delivery([ORDER], hex_sig=True)
    assert not webhooks.verify(CONNECTION, {}, raw(body))
    hex_connection = CONNECTION.model_copy(update={"webhook_signature_encoding": "hex"})
    assert webhooks.verify(hex_connection, {}, raw(body))


@pytest.mark.parametrize(
    ("_case", "body"),
    [
        ("wrong_secret", delivery([ORDER], secret="other")),
        ("no_sig", {k: v for k, v in delivery([ORDER]).items() if k != "sig"}),
        ("no_nonce", {k: v for k, v in delivery([ORDER]).items() if k != "nonce"}),
        ("data_changed", {**delivery([ORDER]), "data": [{**ORDER, "status": "COMPLETED"}]}),
        ("nonce_changed", {**delivery([ORDER]), "nonce": "other"}),
        ("not_an_object", [1, 2]),
    ],
)
def test_refuses_a_bad_signature(_case: str, body: Any) -> None:
    assert not webhooks.verify(CONNECTION, {}, json.dumps(body).encode())


def test_a_body_that_is_not_json_is_malformed_not_unsigned() -> None:
    with pytest.raises(ProviderBadResponseError):
        webhooks.verify(CONNECTION, {}, b"{not json")


def test_parses_every_order_and_keys_the_event_by_the_signed_parts() -> None:
    body = delivery([ORDER, {**ORDER, "id": "ord-2"}], event="updated")
    parsed = webhooks.parse_event(CONNECTION, body, raw(body))
    # the key ignores the unsigned `webhook` part and the serialisation; a new nonce is a new delivery
    resent = {**body, "webhook": {**body["webhook"], "event": "created", "connection_id": "x"}}
    assert webhooks.parse_event(CONNECTION, resent, json.dumps(resent, indent=2).encode()).event_key == parsed.event_key
    renonced = {**body, "nonce": "other"}
    assert webhooks.parse_event(CONNECTION, renonced, raw(renonced)).event_key != parsed.event_key
    assert parsed.event_type == "updated"
    assert [o.provider_order_id for o in parsed.orders] == ["ord-1", "ord-2"]
    assert parsed.orders[0].status is OrderStatus.OPEN
    assert parsed.orders[0].candidate.emails == ("grace@example.com",)


def test_a_deletion_is_recorded_without_orders() -> None:
    body = delivery([ORDER], event="deleted")
    assert webhooks.parse_event(CONNECTION, body, raw(body)).orders == ()


@pytest.mark.parametrize(
    ("_case", "body"),
    [
        ("data_not_list", {**delivery([ORDER]), "data": {"id": "x"}}),
        ("other_object_type", {**delivery([ORDER]), "webhook": {"object_type": "candidate", "event": "created"}}),
        ("unknown_event", {**delivery([ORDER]), "webhook": {"object_type": "assessment_order", "event": "moved"}}),
        ("order_without_id", delivery([{**ORDER, "id": None}])),
    ],
)  # fmt: skip
def test_refuses_a_body_that_does_not_fit(_case: str, body: dict[str, Any]) -> None:
    with pytest.raises(ProviderBadResponseError):
        webhooks.parse_event(CONNECTION, body, raw(body))


def test_accepts_orders_for_any_package() -> None:
    assert webhooks.refusal("pkg-9") is None


@pytest.mark.parametrize(
    ("_case", "order"),
    [("other_connection", {**ORDER, "connection_id": "conn-2"}), ("other_workspace", {**ORDER, "workspace_id": "ws-2"})],
)
def test_refuses_signed_orders_of_another_tenant(_case: str, order: dict[str, Any]) -> None:
    body = delivery([ORDER, order])
    with pytest.raises(ForeignConnectionError):
        webhooks.parse_event(CONNECTION, body, raw(body))


@pytest.mark.parametrize(
    ("_case", "payload"),
    [("deep", b"[" * 100_000), ("nan", b'{"data": [NaN]}'), ("inf", b'{"data": [1e999]}'),
     ("surrogate", b'{"data": ["\\udc00"]}')],
)  # fmt: skip
def test_a_body_that_cannot_be_stored_is_malformed_before_any_check(_case: str, payload: bytes) -> None:
    with pytest.raises(ProviderBadResponseError):
        webhooks.verify(CONNECTION, {}, payload)
