"""Pure translation between Kombo assessment payloads and domain models. No I/O."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from providers.errors import (
    InvalidInputError,
    ProviderBadResponseError,
    ResultConflictError,
    UnsupportedByProviderError,
)
from providers.formats import file_name, guess_mime, iso_millis, number_text, slug
from providers.kombo.payloads import (
    KOMBO_STATUSES,
    KomboAttachment,
    KomboJob,
    KomboOrder,
    KomboResultBody,
    KomboSubResultAttribute,
    KomboSubResultScore,
    KomboTextAttribute,
)
from providers.models import (
    Application,
    AssessmentOrder,
    Attachment,
    AttributeType,
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

PROVIDER = ProviderName.KOMBO
MAX_ATTACHMENTS = 5

# unified status -> (Kombo status, warned as APPROXIMATED); the others are refused.
_STATUS: dict[OrderStatus, tuple[str, bool]] = {
    OrderStatus.COMPLETED: ("COMPLETED", False),
    OrderStatus.CANCELLED: ("CANCELLED", False),
    OrderStatus.EXPIRED: ("CANCELLED", True),
}
_SUB_RESULT_STATUSES = frozenset({OrderStatus.COMPLETED, OrderStatus.CANCELLED})
_MIME = re.compile(r"^[\w.-]+/[\w.-]+$")

KomboAttribute = KomboTextAttribute | KomboSubResultAttribute


class _Draft:
    """The body being built, plus the warnings collected on the way."""

    def __init__(self, kombo_status: str) -> None:
        self.kombo_status = kombo_status
        self.attributes: list[KomboAttribute] = []
        self.generated: list[KomboTextAttribute] = []
        self.warnings: list[TranslationWarning] = []

    def warn(self, code: str, field: str, message: str) -> None:
        self.warnings.append(TranslationWarning(code=code, field=field, message=message))

    def text(self, label: str, value: str, field: str, what: str) -> None:
        """A service-generated TEXT attribute carrying a value that has no Kombo field."""
        self.generated.append(KomboTextAttribute(label=label, value=value))
        self.warn("MOVED", field, f"Kombo has no field for {what}; sent as the TEXT attribute '{label}'.")


# --------------------------------------------------------------------------- result -> Kombo


def result_to_kombo(order: AssessmentOrder, update: ResultUpdate, now: datetime) -> PreparedWrite:
    """The body of `PUT /assessment/orders/{id}/result`.

    Raises UnsupportedByProviderError (OPEN, IN_PROGRESS, FAILED, REJECTED), ResultConflictError
    (Kombo's status is no longer OPEN and would change) and InvalidInputError (no result_url,
    attribute or attachment values Kombo cannot take).
    """
    draft = _Draft(_map_status(update))
    if _STATUS[update.status][1]:
        draft.warn("APPROXIMATED", "status", f"Kombo has no {update.status.value}; sent as {draft.kombo_status}.")
    _check_conflict(order, draft.kombo_status)
    if update.result_url is None:
        raise InvalidInputError("Kombo requires a result URL.", provider=PROVIDER, field="resultUrl")
    fields: dict[str, Any] = {
        "status": draft.kombo_status,
        "result_url": update.result_url,
        "completed_at": _completed_at(update, now, draft),
    }
    if update.outcome is not None:
        draft.text("Outcome", update.outcome.value.title(), "outcome", "the outcome")
    fields.update(_map_score(update, draft))
    _map_scalars(update, draft)
    _map_attributes(update.attributes, draft)
    remote_fields = _map_remote_fields(update, draft)
    body = KomboResultBody(
        **fields,
        attributes=[*draft.attributes, *draft.generated] or None,
        attachments=_map_attachments(update.attachments, draft) or None,
        remote_fields=remote_fields or None,
    )
    return PreparedWrite(
        body=body.model_dump(mode="json", exclude_none=True),
        warnings=tuple(draft.warnings),
        provider_status=draft.kombo_status,
        status=order_status(draft.kombo_status),
    )


def _map_status(update: ResultUpdate) -> str:
    if update.status not in _STATUS:
        raise UnsupportedByProviderError(
            f"Kombo cannot store status {update.status.value}; it takes COMPLETED or CANCELLED results.",
            provider=PROVIDER,
            field="status",
        )
    return _STATUS[update.status][0]


def _check_conflict(order: AssessmentOrder, kombo_status: str) -> None:
    """Kombo lets the status change only while it is OPEN; the same status again is allowed."""
    current = current_kombo_status(order)
    if current != "OPEN" and current != kombo_status:
        raise ResultConflictError(
            f"The order is already {current} at Kombo; its status can no longer change to {kombo_status}.",
            provider=PROVIDER,
            field="status",
        )


def current_kombo_status(order: AssessmentOrder) -> str:
    """Kombo's status of the order as last seen: its raw value, else read from the domain status."""
    if order.provider_status in KOMBO_STATUSES:
        return order.provider_status
    if order.provider_status is None and order.status.value in KOMBO_STATUSES:
        return order.status.value
    return "OPEN"


def _completed_at(update: ResultUpdate, now: datetime, draft: _Draft) -> str:
    if update.completed_at is not None:
        return iso_millis(update.completed_at)
    draft.warn("DEFAULTED", "completedAt", f"Kombo expects a completion date for {draft.kombo_status}; sent now.")
    return iso_millis(now)


def _map_score(update: ResultUpdate, draft: _Draft) -> dict[str, Any]:
    score = update.score
    if score is None:
        return {}
    fields: dict[str, Any] = {"score": score.value}
    if score.max is not None:
        fields["max_score"] = score.max
    if score.min is not None and score.min != 0:
        draft.text("Score minimum", number_text(score.min), "score.min", "a minimum score (its scores start at 0)")
    return fields


def _map_scalars(update: ResultUpdate, draft: _Draft) -> None:
    if update.summary is not None:
        draft.text("Summary", update.summary, "summary", "a summary")
    if update.started_at is not None:
        draft.text("Started at", iso_millis(update.started_at), "startedAt", "a start date")
    if update.candidate_profile_url is not None:
        draft.text("Candidate profile", update.candidate_profile_url, "candidateProfileUrl", "a profile link")


# --------------------------------------------------------------------------- attributes


def _map_attributes(attributes: tuple[ResultAttribute, ...], draft: _Draft) -> None:
    for index, attribute in enumerate(attributes):
        field = f"attributes[{index}]"
        if attribute.type is AttributeType.SUB_RESULT:
            draft.attributes.append(_sub_result(index, attribute, draft))
        else:
            draft.attributes.append(_text_attribute(attribute, field, draft))


def _text_attribute(attribute: ResultAttribute, field: str, draft: _Draft) -> KomboTextAttribute:
    """TEXT as is; NUMBER as its number in text. A score, status or id goes into the text."""
    if attribute.value is None:
        raise InvalidInputError(
            f"A {attribute.type.value} attribute needs a value.", provider=PROVIDER, field=f"{field}.value"
        )
    value = attribute.value
    if attribute.type is AttributeType.NUMBER:
        value = _number_value(attribute.value, field)
        draft.warn("APPROXIMATED", field, "Kombo has no NUMBER attributes; sent as a TEXT attribute.")
    extras = _extras(attribute)
    if extras:
        value = f"{value} ({extras})"
        draft.warn("MOVED", field, "Kombo TEXT attributes have only a label and a value; the rest is in the value.")
    return KomboTextAttribute(label=attribute.label, value=value)


def _number_value(value: str, field: str) -> str:
    try:
        return number_text(float(value))
    except ValueError:
        raise InvalidInputError(
            "A NUMBER attribute needs a numeric value.", provider=PROVIDER, field=f"{field}.value"
        ) from None


def _extras(attribute: ResultAttribute) -> str:
    parts = []
    if attribute.score is not None:
        parts.append(f"score {_score_text(attribute.score.value, attribute.score.max)}")
    if attribute.status is not None:
        parts.append(f"status {attribute.status.value}")
    if attribute.id is not None:
        parts.append(f"id {attribute.id}")
    return ", ".join(parts)


def _score_text(value: float, maximum: float | None) -> str:
    return number_text(value) if maximum is None else f"{number_text(value)}/{number_text(maximum)}"


def _sub_result(index: int, attribute: ResultAttribute, draft: _Draft) -> KomboSubResultAttribute:
    field = f"attributes[{index}]"
    score = attribute.score
    if score is None or score.max is None or score.max < 1:
        raise InvalidInputError(
            "Kombo sub-results need a score with a max of at least 1.", provider=PROVIDER, field=f"{field}.score.max"
        )
    attribute_id = attribute.id
    if attribute_id is None:
        attribute_id = slug(attribute.label) or f"attribute-{index + 1}"
        draft.warn("DEFAULTED", f"{field}.id", f"Kombo sub-results need an id; sent as '{attribute_id}'.")
    if attribute.value is not None:
        draft.text(attribute.label, attribute.value, f"{field}.value", "a sub-result text")
    return KomboSubResultAttribute(
        id=attribute_id,
        label=attribute.label,
        score=KomboSubResultScore(value=score.value, max=score.max),
        status=_sub_result_status(attribute, field, draft),
    )


def _sub_result_status(attribute: ResultAttribute, field: str, draft: _Draft) -> str:
    if attribute.status is None:
        draft.warn("DEFAULTED", f"{field}.status", f"Kombo sub-results need a status; sent as {draft.kombo_status}.")
        return draft.kombo_status
    if attribute.status not in _SUB_RESULT_STATUSES:
        raise InvalidInputError(
            f"Kombo sub-results take status COMPLETED or CANCELLED, not {attribute.status.value}.",
            provider=PROVIDER,
            field=f"{field}.status",
        )
    return attribute.status.value


# --------------------------------------------------------------------------- attachments, remote fields


def _map_attachments(attachments: tuple[Attachment, ...], draft: _Draft) -> list[KomboAttachment]:
    if len(attachments) > MAX_ATTACHMENTS:
        raise InvalidInputError(
            f"Kombo takes at most {MAX_ATTACHMENTS} attachments.", provider=PROVIDER, field="attachments"
        )
    return [_attachment(index, attachment, draft) for index, attachment in enumerate(attachments)]


def _attachment(index: int, attachment: Attachment, draft: _Draft) -> KomboAttachment:
    field = f"attachments[{index}]"
    name = attachment.name
    if name is None:
        name = file_name(attachment.url) or f"attachment-{index + 1}"
        draft.warn("DEFAULTED", f"{field}.name", f"Kombo attachments need a file name; sent as '{name}'.")
    return KomboAttachment(name=name, content_type=_content_type(attachment, field, draft), data_url=attachment.url)


def _content_type(attachment: Attachment, field: str, draft: _Draft) -> str | None:
    if attachment.content_type is None:
        guessed = guess_mime(attachment.url)
        return guessed if guessed and _MIME.match(guessed) else None
    mime = attachment.content_type.split(";", 1)[0].strip()
    if not _MIME.match(mime):
        raise InvalidInputError(
            "Kombo needs a content type like 'application/pdf'.", provider=PROVIDER, field=f"{field}.contentType"
        )
    if mime != attachment.content_type:
        draft.warn("APPROXIMATED", f"{field}.contentType", f"Kombo takes a bare MIME type; sent as {mime}.")
    return mime


def _map_remote_fields(update: ResultUpdate, draft: _Draft) -> dict[str, Any]:
    """passthrough -> remote_fields; score.label -> remote_fields.smartrecruiters.scoreLabel."""
    remote_fields = copy.deepcopy(update.passthrough or {})
    smartrecruiters = remote_fields.get("smartrecruiters")
    if smartrecruiters is not None and not isinstance(smartrecruiters, dict):
        raise InvalidInputError(
            "passthrough.smartrecruiters must be an object.", provider=PROVIDER, field="passthrough"
        )
    label = update.score.label if update.score is not None else None
    if label is None:
        return remote_fields
    if smartrecruiters is not None and "scoreLabel" in smartrecruiters:
        draft.text("Score label", label, "score.label", "a score label (the passthrough sets SmartRecruiters' own)")
        return remote_fields
    remote_fields["smartrecruiters"] = {**(smartrecruiters or {}), "scoreLabel": label}
    draft.warn(
        "MOVED", "score.label", "Sent as remote_fields.smartrecruiters.scoreLabel; only SmartRecruiters shows it."
    )
    return remote_fields


# --------------------------------------------------------------------------- Kombo -> domain order


def order_from_kombo(connection_id: str, payload: Mapping[str, Any]) -> AssessmentOrder:
    """A domain order from a `GET /assessment/orders` item or an `assessment:order-received` `data`.

    Raises ProviderBadResponseError when the payload does not fit the schema or has no id.
    """
    raw = dict(payload)
    try:
        wire = KomboOrder.model_validate(raw)
    except ValidationError as exc:
        raise ProviderBadResponseError("Kombo sent an order that does not fit its schema.", provider=PROVIDER) from exc
    return AssessmentOrder(
        connection_id=connection_id,
        provider=PROVIDER,
        provider_order_id=wire.id,
        status=order_status(wire.status),
        provider_status=wire.status,
        package=Package(id=wire.package_id) if wire.package_id else None,
        candidate=_candidate(wire),
        application=Application(remote_id=wire.application.remote_id)
        if wire.application and wire.application.remote_id
        else None,
        job=_job(wire.job),
        raw=raw,
    )


def order_status(value: str | None) -> OrderStatus:
    """Kombo's OPEN/COMPLETED/CANCELLED/REJECTED map 1:1; anything else (or none) reads as OPEN."""
    return OrderStatus(value) if value in KOMBO_STATUSES else OrderStatus.OPEN


def _candidate(wire: KomboOrder) -> Candidate:
    candidate = wire.candidate
    if candidate is None:
        return Candidate()
    return Candidate(
        remote_id=candidate.remote_id,
        first_name=candidate.first_name,
        last_name=candidate.last_name,
        emails=(candidate.email,) if candidate.email else (),
        phones=(candidate.phone,) if candidate.phone else (),
    )


def _job(job: KomboJob | None) -> Job | None:
    if job is None:
        return None
    result = Job(
        remote_id=job.remote_id,
        title=job.name,
        code=job.job_code,
        description=job.description,
        location=_location(job),
    )
    return result if result != Job() else None


def _location(job: KomboJob) -> str | None:
    """Kombo's raw location text, else its parsed parts joined."""
    location = job.location
    if location is None:
        return None
    if location.raw:
        return location.raw
    parts = (location.street_1, location.street_2, location.zip_code, location.city, location.state, location.country)
    return ", ".join(part for part in parts if part) or None
