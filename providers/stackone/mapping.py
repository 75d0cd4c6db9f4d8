"""Pure translation between StackOne assessment payloads and domain models. No I/O."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from providers.errors import ProviderBadResponseError
from providers.formats import guess_mime, iso_millis, number_text
from providers.models import (
    Application,
    AssessmentOrder,
    Attachment,
    Candidate,
    Job,
    OrderStatus,
    Outcome,
    Package,
    ProviderName,
    ResultAttribute,
    ResultUpdate,
    TranslationWarning,
)
from providers.protocol import PreparedWrite
from providers.stackone.payloads import (
    AttachmentWrite,
    CandidateWrite,
    ContentTypeWrite,
    OrderRead,
    ResultRead,
    ResultValueWrite,
    ResultWrite,
    ScoreWrite,
)

PROVIDER = ProviderName.STACKONE
M = TypeVar("M", bound=BaseModel)

# unified status -> StackOne result.value (REJECTED has no equivalent: nearest is `cancelled`).
_STATUS: dict[OrderStatus, str] = {
    OrderStatus.OPEN: "initiated",
    OrderStatus.IN_PROGRESS: "in_progress",
    OrderStatus.COMPLETED: "completed",
    OrderStatus.CANCELLED: "cancelled",
    OrderStatus.FAILED: "failed",
    OrderStatus.REJECTED: "cancelled",
    OrderStatus.EXPIRED: "expired",
}
_OUTCOME = {Outcome.PASSED: "passed", Outcome.FAILED: "failed"}
_APPROXIMATED = frozenset({OrderStatus.REJECTED})
# StackOne result.value -> unified status, when read back.
_READ_STATUS: dict[str, OrderStatus] = {
    "initiated": OrderStatus.OPEN,
    "in_progress": OrderStatus.IN_PROGRESS,
    "passed": OrderStatus.COMPLETED,
    "failed": OrderStatus.COMPLETED,
    "completed": OrderStatus.COMPLETED,
    "cancelled": OrderStatus.CANCELLED,
    "expired": OrderStatus.EXPIRED,
}
# Only Python's built-in table, so the guess does not depend on the host's /etc/mime.types.


class _Draft:
    """Summary lines and warnings collected while the body is built."""

    def __init__(self, summary: str | None) -> None:
        self.lines: list[str] = [] if summary is None else [summary]
        self.warnings: list[TranslationWarning] = []

    def warn(self, code: str, field: str, message: str) -> None:
        self.warnings.append(TranslationWarning(code=code, field=field, message=message))

    def add_line(self, line: str) -> None:
        self.lines.append(line)

    def summary(self) -> str | None:
        return "\n".join(self.lines) if self.lines else None


# --------------------------------------------------------------------------- result -> StackOne


def result_to_stackone(
    order: AssessmentOrder, update: ResultUpdate, now: datetime, previous: ResultUpdate | None = None
) -> PreparedWrite:
    """The `PATCH .../orders/{id}/result` body (current shape, no top-level `id`). Never refuses:
    every domain status has a StackOne value, and what has no field moves into the summary.

    A PATCH changes only the fields it carries, so a field the previous result set and this one
    leaves out is sent as null (every field of the body is nullable in the spec), with a warning:
    StackOne ends on exactly this result."""
    draft = _Draft(update.summary)
    result = _result(update, draft)
    attachments = _attachments(update.attachments, draft)
    _attribute_lines(update.attributes, draft)
    body = ResultWrite(
        score=_score(update),
        start_date=iso_millis(update.started_at) if update.started_at else None,
        submission_date=iso_millis(update.completed_at) if update.completed_at else None,
        summary=draft.summary(),
        result=result,
        result_url=update.result_url,
        attachments=attachments,
        candidate=_candidate_write(order, update),
        passthrough=update.passthrough,
    )
    sent = body.model_dump(mode="json", exclude_none=True)
    if previous is not None:
        sent |= _cleared(order, previous, sent, now, draft)
    return PreparedWrite(
        body=sent,
        warnings=tuple(draft.warnings),
        provider_status=result.value,
        status=_READ_STATUS[result.value],
    )


def _cleared(
    order: AssessmentOrder, previous: ResultUpdate, sent: dict[str, object], now: datetime, draft: _Draft
) -> dict[str, None]:
    gone = sorted(key for key in _fields_set(order, previous, now) if key not in sent)
    for key in gone:
        draft.warn("CLEARED", key, f"{key} was set by an earlier result; this result has none, so it is cleared.")
    return dict.fromkeys(gone)


_SET_BY: OrderedDict[tuple[str | None, str], tuple[str, ...]] = OrderedDict()  # (candidate id, result) -> fields


def _fields_set(order: AssessmentOrder, previous: ResultUpdate, now: datetime) -> tuple[str, ...]:
    """The body fields an earlier result set. Its body depends on the result and on the order's
    candidate id only, and the same earlier result comes back with every write to its order: kept
    for the last 256 (a pure function, remembered)."""
    key = (order.candidate.remote_id, previous.model_dump_json())
    fields = _SET_BY.get(key)
    if fields is None:
        fields = _SET_BY[key] = tuple(result_to_stackone(order, previous, now).body)
        if len(_SET_BY) > 256:
            _SET_BY.popitem(last=False)
    return fields


def _result(update: ResultUpdate, draft: _Draft) -> ResultValueWrite:
    if update.outcome is not None:
        return ResultValueWrite(value=_OUTCOME[update.outcome], source_value=update.outcome.value.title())
    value = _STATUS[update.status]
    if update.status in _APPROXIMATED:
        draft.warn("APPROXIMATED", "status", f"StackOne has no {update.status.value}; sent as {value}.")
    if update.status is OrderStatus.FAILED:
        draft.warn("APPROXIMATED", "status", "StackOne has no failed-processing status; sent as failed, the value "
                   "of a failed candidate, so the order reads back as COMPLETED.")  # fmt: skip
    return ResultValueWrite(value=value, source_value=_title(update.status))


def _title(status: OrderStatus) -> str:
    """IN_PROGRESS -> "In progress"."""
    return status.value.replace("_", " ").capitalize()


def _score(update: ResultUpdate) -> ScoreWrite | None:
    score = update.score
    if score is None:
        return None
    return ScoreWrite(
        label=score.label,
        value=number_text(score.value),
        min=number_text(score.min) if score.min is not None else None,
        max=number_text(score.max) if score.max is not None else None,
    )


def _candidate_write(order: AssessmentOrder, update: ResultUpdate) -> CandidateWrite | None:
    candidate_id = order.candidate.remote_id
    if candidate_id is None and update.candidate_profile_url is None:
        return None
    return CandidateWrite(id=candidate_id, profile_url=update.candidate_profile_url)


# --------------------------------------------------------------------------- attachments and attributes


def _attachments(attachments: tuple[Attachment, ...], draft: _Draft) -> list[AttachmentWrite] | None:
    if not attachments:
        return None
    written = []
    for index, attachment in enumerate(attachments):
        written.append(AttachmentWrite(url=attachment.url, content_type=_content_type(attachment)))
        if attachment.name is not None:
            draft.add_line(f"Attachment {attachment.name}: {attachment.url}")
            draft.warn(
                "MOVED",
                f"attachments[{index}].name",
                "StackOne attachments have no name; written into the summary.",
            )
    return written


def _content_type(attachment: Attachment) -> ContentTypeWrite:
    mime = attachment.content_type or guess_mime(attachment.url)
    if mime is None:
        return ContentTypeWrite(value="other")
    return ContentTypeWrite(value=attachment_kind(mime), source_value=mime)


def attachment_kind(mime: str) -> str:
    """text/* -> text, application/pdf -> pdf, video/* -> video, anything else -> other."""
    essence = mime.split(";", 1)[0].strip().lower()
    if essence.startswith("text/"):
        return "text"
    if essence == "application/pdf":
        return "pdf"
    if essence.startswith("video/"):
        return "video"
    return "other"



def _attribute_lines(attributes: tuple[ResultAttribute, ...], draft: _Draft) -> None:
    for index, attribute in enumerate(attributes):
        draft.add_line(attribute_line(attribute))
        draft.warn(
            "MOVED",
            f"attributes[{index}]",
            "StackOne has no result attributes; written into the summary.",
        )


def attribute_line(attribute: ResultAttribute) -> str:
    """`<label>: <value or score.value/score.max> [<status>]`, plus the id when one was given."""
    shown = [text for text in (attribute.value, _attribute_score(attribute)) if text is not None]
    line = f"{attribute.label}: {', '.join(shown)}" if shown else attribute.label
    if attribute.status is not None:
        line += f" [{attribute.status.value}]"
    if attribute.id is not None:
        line += f" (id {attribute.id})"
    return line


def _attribute_score(attribute: ResultAttribute) -> str | None:
    score = attribute.score
    if score is None:
        return None
    if score.max is None:
        return number_text(score.value)
    return f"{number_text(score.value)}/{number_text(score.max)}"


# --------------------------------------------------------------------------- StackOne -> domain order


def order_from_stackone(
    connection_id: str,
    payload: Mapping[str, Any],
    result: Mapping[str, Any] | None = None,
) -> AssessmentOrder:
    """A domain order from a StackOne `AssessmentOrder` and the last result body written for it, if any.

    StackOne orders carry no status: it is read from the last result's `result.value`.
    Raises ProviderBadResponseError when the payload does not fit the schema or has no id.
    """
    raw = dict(payload)
    wire = _validated(OrderRead, raw)
    if not wire.id:
        raise _bad_order()
    value = _result_value(result)
    return AssessmentOrder(
        connection_id=connection_id,
        provider=PROVIDER,
        provider_order_id=wire.id,
        status=_READ_STATUS.get(value or "", OrderStatus.OPEN),
        provider_status=value,
        package=_package(wire),
        candidate=_candidate(wire),
        application=_application(wire),
        job=_job(wire),
        raw=raw,
    )


def _result_value(result: Mapping[str, Any] | None) -> str | None:
    if result is None:
        return None
    parsed = _validated(ResultRead, dict(result))
    return parsed.result.value if parsed.result is not None else None


def _package(wire: OrderRead) -> Package | None:
    package = wire.package
    if package is None or not (package.id or package.remote_id):
        return None
    return Package(id=package.id or package.remote_id or "", name=package.name)


def _application(wire: OrderRead) -> Application | None:
    application = wire.application
    return Application(remote_id=application.id) if application and application.id else None


def _job(wire: OrderRead) -> Job | None:
    job = wire.job
    return Job(remote_id=job.id, title=job.title) if job and (job.id or job.title) else None


def _candidate(wire: OrderRead) -> Candidate:
    candidate = wire.candidate
    if candidate is None:
        return Candidate()
    return Candidate(
        remote_id=candidate.id,
        first_name=candidate.first_name,
        last_name=candidate.last_name,
        emails=tuple(email.value for email in candidate.emails or () if email.value),
        profile_url=candidate.profile_url,
    )


def _validated(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _bad_order() from exc


def _bad_order() -> ProviderBadResponseError:
    return ProviderBadResponseError("StackOne sent an order that does not fit its schema.", provider=PROVIDER)
