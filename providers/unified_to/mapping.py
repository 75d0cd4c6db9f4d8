"""Pure translation between Unified.to assessment orders and domain models. No I/O."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError

from providers.connections import Connection
from providers.errors import (
    InvalidInputError,
    ProviderBadResponseError,
    UnsupportedByProviderError,
)
from providers.formats import file_name, iso_millis, number_text
from providers.models import (
    Application,
    AssessmentOrder,
    Attachment,
    Candidate,
    Job,
    OrderStatus,
    Package,
    ProviderName,
    ResultAttribute,
    ResultUpdate,
    TranslationWarning,
)
from providers.protocol import PreparedWrite
from providers.unified_to.payloads import (
    UNIFIED_STATUSES,
    UnifiedAttribute,
    UnifiedDetail,
    UnifiedOrder,
    UnifiedOrderWrite,
)

PROVIDER = ProviderName.UNIFIED_TO

# unified status -> (Unified.to status, warned as APPROXIMATED); EXPIRED has no equivalent.
_STATUS: dict[OrderStatus, tuple[str, bool]] = {
    OrderStatus.OPEN: ("OPEN", False),
    OrderStatus.IN_PROGRESS: ("IN_PROGRESS", False),
    OrderStatus.COMPLETED: ("COMPLETED", False),
    OrderStatus.CANCELLED: ("REJECTED", True),
    OrderStatus.FAILED: ("FAILED", False),
    OrderStatus.REJECTED: ("REJECTED", False),
}
RESULT_PREFIX = "response_"
_PASSTHROUGH_KEYS = frozenset({"fields", "raw", "body"})


class _Draft:
    """The result part of the body being built, plus the warnings collected on the way."""

    def __init__(self) -> None:
        self.fields: dict[str, Any] = {}
        self.details: list[UnifiedDetail] = []
        self.attributes: list[UnifiedAttribute] = []
        self.generated: list[UnifiedAttribute] = []
        self.warnings: list[TranslationWarning] = []

    def warn(self, code: str, field: str, message: str) -> None:
        self.warnings.append(TranslationWarning(code=code, field=field, message=message))

    def text_attribute(self, label: str, value: str) -> None:
        self.generated.append(UnifiedAttribute(type="TEXT", label=label, value=value))


# --------------------------------------------------------------------------- result -> Unified.to


def result_to_unified_to(
    order: AssessmentOrder, update: ResultUpdate, now: datetime, connection: Connection
) -> PreparedWrite:
    """The whole stored order with the result fields replaced, ready for `PUT .../order/{id}`.

    Raises UnsupportedByProviderError (EXPIRED) and InvalidInputError (attribute status,
    passthrough keys, no workspace/connection id).
    """
    draft = _Draft()
    unified_status = _map_status(update, draft)
    _map_score(update, draft)
    _map_scalars(update, draft)
    _map_attachments(update.attachments, draft)
    _map_attributes(update.attributes, draft)
    if update.candidate_profile_url is not None:
        draft.text_attribute("Candidate profile", update.candidate_profile_url)
        draft.warn("MOVED", "candidateProfileUrl", "Sent as the TEXT response attribute 'Candidate profile'.")
    params, raw_body = _map_passthrough(update.passthrough)
    body = _merge_into_stored(order, connection, draft, unified_status, raw_body)
    return PreparedWrite(
        body=body,
        params=params,
        warnings=tuple(draft.warnings),
        provider_status=unified_status,
        status=_domain_status(unified_status),
    )


def _map_status(update: ResultUpdate, draft: _Draft) -> str:
    if update.status not in _STATUS:
        raise UnsupportedByProviderError(
            f"Unified.to has no status for {update.status.value}.", provider=PROVIDER, field="status"
        )
    value, approximated = _STATUS[update.status]
    if approximated:
        draft.warn("APPROXIMATED", "status", f"Unified.to has no {update.status.value}; sent as {value}.")
    if update.outcome is not None:
        draft.text_attribute("Outcome", update.outcome.value.title())
        draft.warn("MOVED", "outcome", "Sent as the TEXT response attribute 'Outcome'.")
    return value


def _map_score(update: ResultUpdate, draft: _Draft) -> None:
    score = update.score
    if score is None:
        return
    draft.fields["response_score"] = score.value
    if score.max is not None:
        draft.fields["response_max_score"] = score.max
    if score.min is not None and score.min != 0:
        draft.text_attribute("Score minimum", number_text(score.min))
        draft.warn(
            "MOVED", "score.min", "Unified.to scores start at 0; sent as the TEXT response attribute 'Score minimum'."
        )
    if score.label is not None:
        draft.text_attribute("Score label", score.label)
        draft.warn("MOVED", "score.label", "Sent as the TEXT response attribute 'Score label'.")


def _map_scalars(update: ResultUpdate, draft: _Draft) -> None:
    if update.result_url is not None:
        draft.fields["response_url"] = update.result_url
    if update.completed_at is not None:
        draft.fields["response_completed_at"] = iso_millis(update.completed_at)
    if update.started_at is not None:
        draft.fields["response_issued_at"] = iso_millis(update.started_at)
        draft.warn("APPROXIMATED", "startedAt", "Sent as response_issued_at, the date the assessment was issued.")
    if update.summary is not None:
        draft.details.append(UnifiedDetail(title="Summary", text=update.summary))


def _map_attachments(attachments: tuple[Attachment, ...], draft: _Draft) -> None:
    if not attachments:
        return
    draft.fields["response_download_urls"] = [attachment.url for attachment in attachments]
    for index, attachment in enumerate(attachments):
        text = None
        if attachment.content_type is not None:
            text = f"Content type: {attachment.content_type}"
            draft.warn(
                "MOVED",
                f"attachments[{index}].contentType",
                "Unified.to has no content type field; written into the attachment's response detail.",
            )
        if attachment.name is not None or text is not None:
            title = attachment.name if attachment.name is not None else (file_name(attachment.url) or attachment.url)
            draft.details.append(UnifiedDetail(title=title, text=text, download_url=attachment.url))


def _map_attributes(attributes: tuple[ResultAttribute, ...], draft: _Draft) -> None:
    """Attribute statuses follow the order status table: CANCELLED is sent as REJECTED (warned),
    EXPIRED has no equivalent and is refused."""
    for index, attribute in enumerate(attributes):
        status = _attribute_status(attribute, f"attributes[{index}].status", draft)
        score = attribute.score
        draft.attributes.append(
            UnifiedAttribute(
                type=attribute.type.value,
                label=attribute.label,
                value=attribute.value,
                score_value=score.value if score is not None else None,
                score_max=score.max if score is not None else None,
                status=status,
                reference=attribute.id,
            )
        )


def _attribute_status(attribute: ResultAttribute, field: str, draft: _Draft) -> str | None:
    if attribute.status is None:
        return None
    if attribute.status not in _STATUS:
        raise InvalidInputError(
            f"Unified.to attributes cannot have status {attribute.status.value}.", provider=PROVIDER, field=field
        )
    value, approximated = _STATUS[attribute.status]
    if approximated:
        draft.warn("APPROXIMATED", field, f"Unified.to has no {attribute.status.value}; sent as {value}.")
    return value


# --------------------------------------------------------------------------- passthrough


def _map_passthrough(
    passthrough: dict[str, Any] | None,
) -> tuple[dict[str, str | list[str]], dict[str, Any]]:
    """Query parameters (`fields`, `raw`) and the object merged into the body's `raw`."""
    if not passthrough:
        return {}, {}
    unknown = sorted(set(passthrough) - _PASSTHROUGH_KEYS)
    if unknown:
        raise _bad_passthrough(f"Unified.to passthrough takes only fields, raw and body (got {', '.join(unknown)}).")
    params: dict[str, str | list[str]] = {}
    fields = _fields_param(passthrough.get("fields"))
    if fields:
        params["fields"] = fields
    raw = _raw_param(passthrough.get("raw"))
    if raw:
        params["raw"] = raw
    body = passthrough.get("body")
    if body is not None and not isinstance(body, dict):
        raise _bad_passthrough("passthrough.body must be an object.")
    return params, dict(body or {})


def _fields_param(value: Any) -> list[str]:
    """Field names for the repeated `fields` query parameter (the spec's form/explode array)."""
    if value is None:
        return []
    if isinstance(value, str):
        names = value.split(",")
    elif isinstance(value, list) and all(isinstance(name, str) for name in value):
        names = value
    else:
        raise _bad_passthrough("passthrough.fields must be a list of field names or a comma-separated string.")
    return [name.strip() for name in names if name.strip()]


def _raw_param(value: Any) -> str:
    if value is None or isinstance(value, str):
        return value or ""
    if isinstance(value, dict) and all(_is_scalar(item) for item in value.values()):
        return urlencode({key: _scalar_text(item) for key, item in value.items()})
    raise _bad_passthrough("passthrough.raw must be a string or an object of plain values.")


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _scalar_text(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return number_text(value) if isinstance(value, float) else str(value)


def _bad_passthrough(message: str) -> InvalidInputError:
    return InvalidInputError(message, provider=PROVIDER, field="passthrough")


# --------------------------------------------------------------------------- merging into the stored order


def _merge_into_stored(
    order: AssessmentOrder,
    connection: Connection,
    draft: _Draft,
    unified_status: str,
    raw_body: dict[str, Any],
) -> dict[str, Any]:
    body = _without_earlier_result(copy.deepcopy(order.raw), draft)
    body["workspace_id"] = _tenant_id(body, connection, "workspace_id")
    body["connection_id"] = _tenant_id(body, connection, "connection_id")
    body["status"] = body["response_status"] = unified_status
    body.update(draft.fields)
    _merge_list(body, "response_details", draft.details, "title")
    _merge_list(body, "response_attributes", [*draft.attributes, *draft.generated], "label")
    if raw_body:
        stored_raw = body.get("raw") if isinstance(body.get("raw"), dict) else {}
        body["raw"] = {**stored_raw, **raw_body}
    return UnifiedOrderWrite.model_validate(body).model_dump(mode="json", exclude_none=True)


def _without_earlier_result(body: dict[str, Any], draft: _Draft) -> dict[str, Any]:
    """The stored order without any `response_*` value: the PUT carries exactly the newest result's.
    What an earlier result set and this one leaves out is cleared, with a warning."""
    kept = {k: v for k, v in body.items() if not k.startswith(RESULT_PREFIX)}
    setting = set(draft.fields) | {"response_status"}
    setting |= {"response_details"} if draft.details else set()
    setting |= {"response_attributes"} if draft.attributes or draft.generated else set()
    for name in sorted(k for k, v in body.items() if k.startswith(RESULT_PREFIX) and v not in (None, [], {})):
        if name not in setting:
            draft.warn("CLEARED", name, f"{name} held a value from an earlier result; this result has none, so it is cleared.")
    return kept


def _tenant_id(body: dict[str, Any], connection: Connection, key: str) -> str:
    value = body.get(key) or getattr(connection, key)
    if not value:
        raise InvalidInputError(f"the connection has no {key} configured", provider=PROVIDER)
    return str(value)


def _merge_list(
    body: dict[str, Any], name: str, new: list[UnifiedDetail] | list[UnifiedAttribute], key: str
) -> None:
    """The result's own entries (earlier results' entries were removed with the other `response_*`)."""
    if new:
        body[name] = [item.model_dump(mode="json", exclude_none=True) for item in new]


# --------------------------------------------------------------------------- Unified.to -> domain order


def order_from_unified_to(connection_id: str, payload: Mapping[str, Any] | UnifiedOrder) -> AssessmentOrder:
    """A domain order from a Unified.to `AssessmentOrder` (webhook item or PUT answer).

    Raises ProviderBadResponseError when the payload does not fit the schema or has no id.
    """
    raw = payload.model_dump(mode="json", exclude_none=True) if isinstance(payload, UnifiedOrder) else dict(payload)
    try:
        wire = payload if isinstance(payload, UnifiedOrder) else UnifiedOrder.model_validate(raw)
    except ValidationError as exc:
        raise _bad_order() from exc
    if not wire.id:
        raise _bad_order()
    return AssessmentOrder(
        connection_id=connection_id,
        provider=PROVIDER,
        provider_order_id=wire.id,
        status=_domain_status(wire.status),
        provider_status=wire.status,
        package=Package(id=wire.package_id) if wire.package_id else None,
        candidate=_candidate(wire),
        application=Application(remote_id=wire.application_id) if wire.application_id else None,
        job=Job(remote_id=wire.job_id) if wire.job_id else None,
        created_at=_parse_date(wire.created_at),
        updated_at=_parse_date(wire.updated_at),
        raw=raw,
    )


def _domain_status(value: str | None) -> OrderStatus:
    """Unified's five statuses map 1:1; anything else (open enum) reads as OPEN."""
    return OrderStatus(value) if value in UNIFIED_STATUSES else OrderStatus.OPEN


def _candidate(wire: UnifiedOrder) -> Candidate:
    return Candidate(
        remote_id=wire.candidate_id,
        first_name=wire.profile_first_name,
        last_name=wire.profile_last_name,
        name=wire.profile_name,
        emails=tuple(wire.profile_emails or ()),
        phones=tuple(wire.profile_telephones or ()),
        resume_url=wire.profile_resume_url,
    )


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _bad_order() from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _bad_order() -> ProviderBadResponseError:
    return ProviderBadResponseError("Unified.to sent an order that does not fit its schema.", provider=PROVIDER)
