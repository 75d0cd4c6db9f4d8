"""StackOne's `ats_assessments.*` webhooks: signature check, parsing, and filling ids-only orders. No I/O."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from providers.connections import Connection
from providers.errors import ForeignConnectionError, ProviderBadResponseError
from providers.models import AssessmentOrder, ProviderName
from providers.protocol import ParsedWebhook
from providers.stackone.mapping import order_from_stackone
from providers.webhook_body import canonical_key

PROVIDER = ProviderName.STACKONE
DEFAULT_SIGNATURE_HEADER = "x-stackone-signature"
DEFAULT_SIGNATURE_ENCODING = "base64url"
ORDER_EVENTS = ("ats_assessments.created", "ats_assessments.updated")
IGNORED_EVENTS = ("ats_assessments.deleted",)  # recorded, but the order record is kept
# Set in `AssessmentOrder.raw` while the candidate, application and job are still to be fetched.
PENDING_KEY = "_details_pending"
_ID_KEYS = frozenset({"id", "remote_id"})


class _Read(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class _Body(_Read):
    id: str | None = None
    event: str
    account_id: str | None = None
    record_id: str | None = None
    event_data: dict[str, Any] | None = None


# --------------------------------------------------------------------------- signature


def digest_text(digest: bytes, encoding: str) -> str:
    """The digest as the connection's encoding writes it ("base64url" unpadded, "base64" or "hex")."""
    if encoding == "hex":
        return digest.hex()
    if encoding == "base64":
        return base64.b64encode(digest).decode("ascii")
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def signature(secret: str, raw_body: bytes, encoding: str = DEFAULT_SIGNATURE_ENCODING) -> str:
    """HMAC-SHA256(secret, raw body) in the given encoding."""
    return digest_text(hmac.new(secret.encode(), raw_body, hashlib.sha256).digest(), encoding)


def verify(connection: Connection, headers: Mapping[str, str], raw_body: bytes) -> bool:
    """True when the connection's signature header signs the raw body (padding optional)."""
    header = (connection.webhook_signature_header or DEFAULT_SIGNATURE_HEADER).lower()
    given = headers.get(header)
    if not connection.webhook_secret or not given:
        return False
    encoding = connection.webhook_signature_encoding or DEFAULT_SIGNATURE_ENCODING
    expected = signature(connection.webhook_secret, raw_body, encoding)
    given = given.strip()
    if encoding == "hex":
        given = given.lower()
    else:
        expected, given = expected.rstrip("="), given.rstrip("=")
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


# --------------------------------------------------------------------------- parsing


def parse_event(connection: Connection, body: Mapping[str, Any], raw_body: bytes) -> ParsedWebhook:
    """The event of a verified body, keyed by its event id, else by its (wholly signed) content
    normalised. Raises ProviderBadResponseError when it does not fit, ForeignConnectionError when it
    names another account."""
    try:
        wire = _Body.model_validate(body)
    except ValidationError as exc:
        raise _malformed("the body is not an assessment event") from exc
    if wire.event not in ORDER_EVENTS + IGNORED_EVENTS:
        raise _malformed("unsupported event type")
    if connection.account_id and wire.account_id and wire.account_id != connection.account_id:
        raise ForeignConnectionError("StackOne webhook: the event belongs to another account.", provider=PROVIDER)
    event_key = wire.id or canonical_key(body)
    if wire.event in IGNORED_EVENTS:
        return ParsedWebhook(event_key, wire.event, ())
    return ParsedWebhook(event_key, wire.event, (_order(connection.id, wire),))


def _order(connection_id: str, wire: _Body) -> AssessmentOrder:
    if wire.event_data is None:
        raise _malformed("event_data is missing")
    payload = dict(wire.event_data)
    if not payload.get("id") and wire.record_id:
        payload["id"] = wire.record_id
    if needs_details(payload):
        payload[PENDING_KEY] = True
    return order_from_stackone(connection_id, payload)


def needs_details(payload: Mapping[str, Any]) -> bool:
    """An order whose candidate or job arrived as ids only (the receiver fetches the rest)."""
    return any(_ids_only(payload.get(part)) for part in ("candidate", "job"))


def _ids_only(part: Any) -> bool:
    return isinstance(part, Mapping) and bool(part.get("id")) and set(part) <= _ID_KEYS


def details_pending(order: AssessmentOrder) -> bool:
    return order.provider is PROVIDER and bool(order.raw.get(PENDING_KEY))


def _malformed(reason: str) -> ProviderBadResponseError:
    return ProviderBadResponseError(f"StackOne webhook: {reason}.", provider=PROVIDER)


def refusal(package_id: str) -> str | None:
    """StackOne has no way to refuse an order by webhook answer: it is accepted (and recorded REJECTED)."""
    return None


# --------------------------------------------------------------------------- filling ids-only orders


class _Email(_Read):
    type: str | None = None
    value: str | None = None


class _Phone(_Read):
    type: str | None = None
    phone: str | None = None


class CandidateDetails(_Read):
    """`components.schemas.Candidate` of the StackOne ATS spec (the fields an order keeps)."""

    id: str | None = None
    remote_id: str | None = None
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    emails: list[_Email] | None = None
    phone: str | None = None
    phone_numbers: list[_Phone] | None = None


class ApplicationDetails(_Read):
    id: str | None = None
    remote_id: str | None = None


class JobDetails(_Read):
    id: str | None = None
    remote_id: str | None = None
    code: str | None = None
    title: str | None = None


def order_with_details(
    order: AssessmentOrder,
    candidate: CandidateDetails | None,
    application: ApplicationDetails | None,
    job: JobDetails | None,
) -> AssessmentOrder:
    """The order with the fetched parts merged into its raw record, re-read, and no longer pending.
    Status and times stay as they were (StackOne orders carry none)."""
    raw = {key: value for key, value in order.raw.items() if key != PENDING_KEY}
    if candidate is not None:
        raw["candidate"] = _merged(raw.get("candidate"), _candidate_part(candidate))
    if application is not None:
        raw["application"] = _merged(raw.get("application"), application.model_dump(exclude_none=True))
    if job is not None:
        raw["job"] = _merged(raw.get("job"), job.model_dump(include={"id", "remote_id", "title"}, exclude_none=True))
    filled = order_from_stackone(order.connection_id, raw)
    update: dict[str, Any] = {
        "status": order.status, "provider_status": order.provider_status,
        "created_at": order.created_at, "updated_at": order.updated_at,
    }  # fmt: skip
    if candidate is not None:
        update["candidate"] = filled.candidate.model_copy(update=_candidate_extras(candidate))
    if job is not None and filled.job is not None and job.code:
        update["job"] = filled.job.model_copy(update={"code": job.code})
    return filled.model_copy(update=update)


def _merged(stored: Any, fetched: dict[str, Any]) -> dict[str, Any]:
    return {**(stored if isinstance(stored, Mapping) else {}), **fetched}


def _candidate_part(candidate: CandidateDetails) -> dict[str, Any]:
    """The fetched candidate in the order's `OrderCandidateApiModel` shape."""
    emails = [e.model_dump(exclude_none=True) for e in candidate.emails or () if e.value]
    if not emails and candidate.email:
        emails = [{"value": candidate.email}]
    part = candidate.model_dump(include={"id", "remote_id", "first_name", "last_name"}, exclude_none=True)
    return {**part, "emails": emails} if emails else part


def _candidate_extras(candidate: CandidateDetails) -> dict[str, Any]:
    """What the order shape has no field for: the full name and phone numbers."""
    phones = tuple(p.phone for p in candidate.phone_numbers or () if p.phone)
    if not phones and candidate.phone:
        phones = (candidate.phone,)
    return {"name": candidate.name, "phones": phones}
