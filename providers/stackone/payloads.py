"""Pydantic models of StackOne's assessment wire format (SO-spec-2502 / SO-spec-2512, providers.md §1.3-1.4)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

# StackOne's enums are open (`x-speakeasy-unknown-values: allow`), so enum values are plain strings here.
RESULT_VALUES = ("initiated", "in_progress", "cancelled", "completed", "expired", "failed", "passed")
ATTACHMENT_KINDS = ("text", "pdf", "video", "other")

# `source_value` is "string | number | boolean | object | array" in the spec.
SourceValue = str | int | float | bool | dict[str, Any] | list[Any]


class _Send(BaseModel):
    """What we send: exactly the fields the mapping decided, nothing else."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class _Read(BaseModel):
    """What we read: StackOne adds fields over time, we keep only what we know."""

    model_config = ConfigDict(frozen=True, extra="ignore")


# --------------------------------------------------------------------------- sending (PATCH .../result)


class ScoreWrite(_Send):
    """`ScoreApiModel`: every member is a string."""

    label: str | None = None
    value: str | None = None
    min: str | None = None
    max: str | None = None


class ResultValueWrite(_Send):
    """`ResultEnum`."""

    value: str
    source_value: SourceValue | None = None


class ContentTypeWrite(_Send):
    """`AttachmentContentType`."""

    value: str
    source_value: SourceValue | None = None


class AttachmentWrite(_Send):
    """`Attachment`: files go by URL only."""

    url: str
    content_type: ContentTypeWrite | None = None


class CandidateWrite(_Send):
    """`UpdateResultCandidateApiModel`."""

    id: str | None = None
    profile_url: str | None = None


class ResultWrite(_Send):
    """`AtsUpdateCandidatesAssessmentsResultsRequestDto`, current shape: no top-level `id` (§1.7)."""

    score: ScoreWrite | None = None
    start_date: str | None = None
    submission_date: str | None = None
    summary: str | None = None
    result: ResultValueWrite | None = None
    result_url: str | None = None
    attachments: list[AttachmentWrite] | None = None
    candidate: CandidateWrite | None = None
    passthrough: dict[str, Any] | None = None


# --------------------------------------------------------------------------- reading


class UpdateResult(_Read):
    """The 200 answer `{statusCode, message, timestamp}`; with heartbeats an error can arrive in it too."""

    statusCode: int | float  # noqa: N815 - the wire name
    message: str
    timestamp: str | None = None


class ResultValueRead(_Read):
    value: str | None = None
    source_value: SourceValue | None = None


class ResultRead(_Read):
    """The last result body we sent (PATCH shape); only the status is read back."""

    result: ResultValueRead | None = None


class EmailRead(_Read):
    type: str | None = None
    value: str | None = None


class OrderCandidateRead(_Read):
    """`OrderCandidateApiModel`."""

    id: str | None = None
    remote_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    emails: list[EmailRead] | None = None
    profile_url: str | None = None


class OrderPackageRead(_Read):
    id: str | None = None
    remote_id: str | None = None
    name: str | None = None
    description: str | None = None


class OrderApplicationRead(_Read):
    id: str | None = None
    remote_id: str | None = None


class OrderJobRead(_Read):
    id: str | None = None
    remote_id: str | None = None
    title: str | None = None


class OrderRead(_Read):
    """`components.schemas.AssessmentOrder` (SO-spec-2502)."""

    id: str | None = None
    remote_id: str | None = None
    package: OrderPackageRead | None = None
    application: OrderApplicationRead | None = None
    job: OrderJobRead | None = None
    candidate: OrderCandidateRead | None = None
    results_update_url: str | None = None
