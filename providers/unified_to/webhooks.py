"""Unified.to's `assessment_order` webhooks: the in-body `sig` check and parsing to domain orders. No I/O."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from providers.connections import Connection
from providers.errors import ForeignConnectionError, ProviderBadResponseError
from providers.models import ProviderName
from providers.protocol import ParsedWebhook
from providers.unified_to.mapping import order_from_unified_to
from providers.webhook_body import canonical_key, load_json

PROVIDER = ProviderName.UNIFIED_TO
DEFAULT_SIGNATURE_ENCODING = "base64"
ORDER_EVENTS = ("created", "updated")
IGNORED_EVENTS = ("deleted",)  # recorded, but the order record is kept


class _Read(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class _Webhook(_Read):
    """Unsigned: it names the event, never the tenant."""

    id: str | None = None
    object_type: Literal["assessment_order"]
    event: Literal["created", "updated", "deleted"]


class _Body(_Read):
    data: list[dict[str, Any]]
    webhook: _Webhook
    nonce: str
    sig: str


def signed_text(data: Any, nonce: str) -> bytes:
    """`JSON.stringify(data) + nonce`: compact JSON in the body's own key order."""
    return (json.dumps(data, separators=(",", ":"), ensure_ascii=False) + nonce).encode("utf-8")


def signature(secret: str, data: Any, nonce: str, encoding: str = DEFAULT_SIGNATURE_ENCODING) -> str:
    """HMAC-SHA1(workspace secret, data + nonce), base64 (or hex) encoded."""
    digest = hmac.new(secret.encode(), signed_text(data, nonce), hashlib.sha1).digest()
    return digest.hex() if encoding == "hex" else base64.b64encode(digest).decode("ascii")


def verify(connection: Connection, headers: Mapping[str, str], raw_body: bytes) -> bool:
    """True when the body's `sig` signs its `data` and `nonce`. The signature lives in the body, so
    the body is read first, bounded (providers/webhook_body.py): ProviderBadResponseError when it is
    not such JSON (the signature cannot even be found)."""
    body = load_json(raw_body, PROVIDER)
    if not connection.webhook_secret or not isinstance(body, dict):
        return False
    given, nonce, data = body.get("sig"), body.get("nonce"), body.get("data")
    if not isinstance(given, str) or not isinstance(nonce, str) or data is None:
        return False
    encoding = connection.webhook_signature_encoding or DEFAULT_SIGNATURE_ENCODING
    expected = signature(connection.webhook_secret, data, nonce, encoding)
    if encoding == "hex":
        given = given.lower()
    return hmac.compare_digest(expected.encode(), given.strip().encode("utf-8", "replace"))


def parse_event(connection: Connection, body: Mapping[str, Any], raw_body: bytes) -> ParsedWebhook:
    """The event of a verified body. Only `data` and `nonce` are signed: the event is keyed by them
    normalised, and the tenant is read from the signed orders, never from the unsigned `webhook`.

    Raises ProviderBadResponseError when it does not fit, ForeignConnectionError when a signed order
    names another connection or workspace than the one configured.
    """
    try:
        wire = _Body.model_validate(body)
    except ValidationError as exc:
        raise _malformed("the body is not an assessment_order delivery") from exc
    _check_tenant(connection, wire.data)
    event_key = canonical_key([wire.data, wire.nonce])
    if wire.webhook.event in IGNORED_EVENTS:
        return ParsedWebhook(event_key, wire.webhook.event, ())
    orders = tuple(order_from_unified_to(connection.id, item) for item in wire.data)
    return ParsedWebhook(event_key, wire.webhook.event, orders)


def _check_tenant(connection: Connection, data: list[dict[str, Any]]) -> None:
    for key in ("connection_id", "workspace_id"):
        configured = getattr(connection, key)
        if configured and any(item.get(key) not in (None, configured) for item in data):
            raise ForeignConnectionError(
                f"Unified.to webhook: an order belongs to another {key.removesuffix('_id')}.", provider=PROVIDER
            )


def refusal(package_id: str) -> str | None:
    """Unified.to has no way to refuse an order by webhook answer: it is accepted (and recorded REJECTED)."""
    return None


def _malformed(reason: str) -> ProviderBadResponseError:
    return ProviderBadResponseError(f"Unified.to webhook: {reason}.", provider=PROVIDER)
