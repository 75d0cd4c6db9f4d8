"""Pydantic models of Kombo's assessment wire format (KB-spec, providers.md §2.3-2.5)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Kombo's order status vocabulary (read side); the PUT accepts COMPLETED, CANCELLED and OPEN.
KOMBO_STATUSES = ("OPEN", "COMPLETED", "CANCELLED", "REJECTED")

Number = int | float


class _Write(BaseModel):
    """What we send: exactly the fields the mapping decided."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class _Read(BaseModel):
    """What we read: Kombo adds fields, we keep only what we know."""

    model_config = ConfigDict(frozen=True, extra="ignore")


# --------------------------------------------------------------------------- sending


class KomboTextAttribute(_Write):
    type: Literal["TEXT"] = "TEXT"
    label: str
    value: str


class KomboSubResultScore(_Write):
    value: Number
    max: Number = Field(ge=1)


class KomboSubResultAttribute(_Write):
    type: Literal["SUB_RESULT"] = "SUB_RESULT"
    id: str
    label: str
    score: KomboSubResultScore
    status: Literal["COMPLETED", "CANCELLED"]


class KomboAttachment(_Write):
    name: str
    content_type: str | None = Field(default=None, pattern=r"^[\w.-]+/[\w.-]+$")
    data_url: str


class KomboResultBody(_Write):
    """`PutAssessmentOrdersAssessmentOrderIdResultRequestBody`."""

    status: Literal["COMPLETED", "CANCELLED", "OPEN"]
    result_url: str
    completed_at: str | None = None
    score: Number | None = None
    max_score: Number | None = None
    attributes: list[KomboTextAttribute | KomboSubResultAttribute] | None = None
    attachments: list[KomboAttachment] | None = Field(default=None, max_length=5)
    remote_fields: dict[str, Any] | None = None


# --------------------------------------------------------------------------- reading


class KomboWarning(_Read):
    message: str


class KomboWriteResponse(_Read):
    """200 answer of the result PUT: `{status: "success", data: {}, warnings: [{message}]}`."""

    status: Literal["success"]
    data: dict[str, Any] = Field(default_factory=dict)
    warnings: tuple[KomboWarning, ...] = ()


class KomboErrorDetail(_Read):
    code: str | None = None
    title: str | None = None
    message: str | None = None
    log_url: str | None = None


class KomboErrorResponse(_Read):
    """`ErrorResponseATS`: `{status: "error", error: {code, title, message, log_url}}`."""

    status: str | None = None
    error: KomboErrorDetail


class KomboCandidate(_Read):
    remote_id: str | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None


class KomboApplication(_Read):
    remote_id: str | None = None


class KomboLocation(_Read):
    street_1: str | None = None
    street_2: str | None = None
    city: str | None = None
    state: str | None = None
    zip_code: str | None = None
    country: str | None = None
    raw: str | None = None


class KomboJob(_Read):
    remote_id: str | None = None
    name: str | None = None
    job_code: str | None = None
    description: str | None = None
    location: KomboLocation | None = None


class KomboOrder(_Read):
    """One item of `GET /assessment/orders` results, or the `data` of `assessment:order-received`."""

    id: str = Field(min_length=1)
    package_id: str | None = None
    # Open on read: an unknown value is kept as the provider status (the deprecated /open list has none).
    status: str | None = None
    integration_id: str | None = None
    candidate: KomboCandidate | None = None
    application: KomboApplication | None = None
    job: KomboJob | None = None


class KomboOrdersData(_Read):
    next: str | None = None
    results: list[dict[str, Any]]


class KomboOrdersPage(_Read):
    """200 answer of `GET /assessment/orders`; items stay raw dicts so each order keeps its record."""

    status: Literal["success"]
    data: KomboOrdersData
