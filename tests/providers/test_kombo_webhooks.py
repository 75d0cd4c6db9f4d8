"""Kombo webhooks: the signature check and parsing, pure (signatures computed here, from the format doc)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from providers.connections import Connection
from providers.errors import ForeignConnectionError, ProviderBadResponseError
from providers.kombo import webhooks
from providers.models import OrderStatus, ProviderName

SECRET = "kombo-test-secret"
CONNECTION = Connection(
    id="kombo-1", provider=ProviderName.KOMBO, base_url="http://kombo.test/v1", api_key="k",
    integration_id="greenhouse:abc", webhook_secret=SECRET,
)  # fmt: skip


def event(**data: Any) -> dict[str, Any]:
    order = {"id": "GRKdd9dibYKKCrmGRSMJf3wu", "package_id": "typescript_test", "status": "OPEN",
             "integration_id": "greenhouse:abc",
             "candidate": {"remote_id": "c-1", "email": "ada@example.com", "first_name": "Ada", "last_name": "L"},
             "application": {"remote_id": "app-1"}, "job": {"remote_id": "j-1", "name": "Engineer"}}  # fmt: skip
    return {"id": "evt-1", "type": "assessment:order-received", "data": {**order, **data}}


def sign(raw: bytes, secret: str = SECRET) -> str:
    return base64.urlsafe_b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode().rstrip("=")


def test_accepts_the_unpadded_base64url_signature() -> None:
    raw = json.dumps(event()).encode()
    assert webhooks.verify(CONNECTION, {"x-kombo-signature": sign(raw)}, raw)
    assert "=" not in webhooks.signature(SECRET, raw)


@pytest.mark.parametrize(
    ("_case", "headers"),
    [
        ("missing", {}),
        ("empty", {"x-kombo-signature": ""}),
        ("wrong_secret", {"x-kombo-signature": sign(b"{}", "other")}),
        ("other_body", {"x-kombo-signature": sign(b'{"id": "x"}')}),
        ("hex_instead", {"x-kombo-signature": hmac.new(SECRET.encode(), b"{}", hashlib.sha256).hexdigest()}),
        ("not_ascii", {"x-kombo-signature": "sïgnature"}),
    ],
)
def test_refuses_a_bad_signature(_case: str, headers: dict[str, str]) -> None:
    assert not webhooks.verify(CONNECTION, headers, b"{}")


def test_refuses_everything_without_a_secret() -> None:
    raw = b"{}"
    bare = CONNECTION.model_copy(update={"webhook_secret": None})
    assert not webhooks.verify(bare, {"x-kombo-signature": sign(raw)}, raw)


@pytest.mark.parametrize("_case", ["assessment:order-received", "inline-assessment:order-received"])
def test_parses_the_order_of_either_event_type(_case: str) -> None:
    body = {**event(), "type": _case}
    parsed = webhooks.parse_event(CONNECTION, body, json.dumps(body).encode())
    assert (parsed.event_key, parsed.event_type) == ("evt-1", _case)
    (order,) = parsed.orders
    assert (order.connection_id, order.provider_order_id) == ("kombo-1", "GRKdd9dibYKKCrmGRSMJf3wu")
    assert order.status is OrderStatus.OPEN
    assert order.package is not None and order.package.id == "typescript_test"
    assert order.candidate.emails == ("ada@example.com",)
    assert order.raw["integration_id"] == "greenhouse:abc"


@pytest.mark.parametrize(
    ("_case", "body"),
    [
        ("no_id", {k: v for k, v in event().items() if k != "id"}),
        ("unknown_type", {**event(), "type": "data-changed"}),
        ("data_not_object", {**event(), "data": []}),
        ("order_without_id", event(id=None)),
    ],
)
def test_refuses_a_body_that_does_not_fit(_case: str, body: dict[str, Any]) -> None:
    with pytest.raises(ProviderBadResponseError):
        webhooks.parse_event(CONNECTION, body, json.dumps(body).encode())


def test_refuses_in_kombos_own_words() -> None:
    assert webhooks.refusal("sql_test") == "Package sql_test is not offered"


def test_refuses_an_event_of_another_integration() -> None:
    body = event(integration_id="workday:zzz")
    with pytest.raises(ForeignConnectionError):
        webhooks.parse_event(CONNECTION, body, json.dumps(body).encode())
