"""Kombo's `assessment:order-received` webhooks: signature check and parsing to domain orders. No I/O."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from providers.connections import Connection
from providers.errors import ForeignConnectionError, ProviderBadResponseError
from providers.kombo.mapping import order_from_kombo
from providers.models import ProviderName
from providers.protocol import ParsedWebhook

PROVIDER = ProviderName.KOMBO
SIGNATURE_HEADER = "x-kombo-signature"
EVENT_TYPES = ("assessment:order-received", "inline-assessment:order-received")


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str = Field(min_length=1)
    type: Literal["assessment:order-received", "inline-assessment:order-received"]
    data: dict[str, Any]


def signature(secret: str, raw_body: bytes) -> str:
    """base64url(HMAC-SHA256(secret, body)) without `=` padding."""
    digest = hmac.new(secret.encode(), raw_body, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def verify(connection: Connection, headers: Mapping[str, str], raw_body: bytes) -> bool:
    """True when `X-Kombo-Signature` signs the raw body with the connection's webhook secret.
    A padded value is accepted too."""
    given = headers.get(SIGNATURE_HEADER)
    if not connection.webhook_secret or not given:
        return False
    expected = signature(connection.webhook_secret, raw_body)
    return hmac.compare_digest(expected.encode(), given.strip().rstrip("=").encode("utf-8", "replace"))


def parse_event(connection: Connection, body: Mapping[str, Any], raw_body: bytes) -> ParsedWebhook:
    """The event of a verified body, keyed by its signed event id. Raises ProviderBadResponseError
    when it does not fit, ForeignConnectionError when it names another integration."""
    try:
        wire = _Body.model_validate(body)
    except ValidationError as exc:
        raise _malformed("the body is not an assessment order event") from exc
    integration_id = wire.data.get("integration_id")
    if connection.integration_id and integration_id and integration_id != connection.integration_id:
        raise ForeignConnectionError("Kombo webhook: the event belongs to another integration.", provider=PROVIDER)
    order = order_from_kombo(connection.id, wire.data)
    return ParsedWebhook(event_key=wire.id, event_type=wire.type, orders=(order,))


def refusal(package_id: str) -> str | None:
    """Kombo refuses an order with HTTP 422 and this message (shown in the ATS where supported)."""
    return f"Package {package_id} is not offered"


def _malformed(reason: str) -> ProviderBadResponseError:
    return ProviderBadResponseError(f"Kombo webhook: {reason}.", provider=PROVIDER)
