"""Pydantic models of Unified.to's assessment wire format (UN-spec `AssessmentOrder`, providers.md §3.3)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

# Unified's enums are open (`x-speakeasy-unknown-values: allow`), so statuses are plain strings here.
UNIFIED_STATUSES = ("OPEN", "IN_PROGRESS", "COMPLETED", "FAILED", "REJECTED")

Number = int | float


class _Read(BaseModel):
    """What we read: providers add fields, we keep only what we know."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class _Write(BaseModel):
    """What we send back: the stored order goes out as received, unknown keys included."""

    model_config = ConfigDict(frozen=True, extra="allow")


# --------------------------------------------------------------------------- sending


class UnifiedAttribute(_Write):
    """`AssessmentAttribute` (UN-spec line 2674): type and label are required."""

    type: str
    label: str
    value: str | None = None
    score_value: Number | None = None
    score_max: Number | None = None
    status: str | None = None
    reference: str | None = None


class UnifiedDetail(_Write):
    """`AssessmentResponseDetail`."""

    title: str | None = None
    text: str | None = None
    download_url: str | None = None
    is_private: bool | None = None
    is_failed_reason: bool | None = None
    parameter_id: str | None = None


class _OrderFields(BaseModel):
    """Every `AssessmentOrder` field except the required tenant pair and the result lists."""

    id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    webhook_id: str | None = None
    package_id: str | None = None
    parameters: list[dict[str, Any]] | None = None
    target_url: str | None = None
    status: str | None = None
    reference: str | None = None
    application_id: str | None = None
    job_id: str | None = None
    company_id: str | None = None
    candidate_id: str | None = None
    employee_id: str | None = None
    profile_name: str | None = None
    profile_first_name: str | None = None
    profile_last_name: str | None = None
    profile_resume_url: str | None = None
    profile_ip_address: str | None = None
    profile_date_of_birth: str | None = None
    profile_addresses: list[dict[str, Any]] | None = None
    profile_gender: str | None = None
    profile_emails: list[str] | None = None
    profile_telephones: list[str] | None = None
    profile_national_identifier: str | None = None
    profile_social_media_urls: list[str] | None = None
    response_completed_at: str | None = None
    response_expires_at: str | None = None
    response_issued_at: str | None = None
    response_status: str | None = None
    response_score: Number | None = None
    response_max_score: Number | None = None
    response_url: str | None = None
    response_redirect_url: str | None = None
    response_download_urls: list[str] | None = None
    response_source: str | None = None
    raw: dict[str, Any] | None = None


class UnifiedOrderWrite(_OrderFields, _Write):
    """The PUT body: the whole order, with `workspace_id` and `connection_id` required."""

    workspace_id: str
    connection_id: str
    response_details: list[UnifiedDetail] | None = None
    response_attributes: list[UnifiedAttribute] | None = None


# --------------------------------------------------------------------------- reading


class UnifiedOrder(_OrderFields, _Read):
    """An order as Unified.to sends it (webhook `data[]`, PUT/PATCH response)."""

    workspace_id: str | None = None
    connection_id: str | None = None
    response_details: list[dict[str, Any]] | None = None
    response_attributes: list[dict[str, Any]] | None = None
