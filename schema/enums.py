"""GraphQL enums, each built from its single domain source of truth, with every value described."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TypeVar

import strawberry

from providers import models
from providers.errors import ErrorCode
from schema.error_codes import ERROR_CODE_DESCRIPTIONS
from store import OrderSort

E = TypeVar("E", bound=type[StrEnum])


def described(cls: E, name: str, description: str, values: Mapping[str, str]) -> E:
    """`strawberry.enum(cls)` with a description on the type and on every one of its values."""
    enum_type = strawberry.enum(cls, name=name, description=description)
    definition = enum_type.__strawberry_definition__  # type: ignore[attr-defined]
    for value in definition.values:  # a value without one is caught by tests/schema/test_descriptions.py
        value.description = values.get(value.name)
    return enum_type


Provider = described(models.ProviderName, "Provider", "A unified-API provider.", {
    "STACKONE": "StackOne (ATS assessments; orders arrive by webhook only).",
    "KOMBO": "Kombo (assessment orders can be read and are also synced in the background).",
    "UNIFIED_TO": "Unified.to (orders arrive by webhook only; a write replaces the whole order).",
})  # fmt: skip
AssessmentStatus = described(
    models.OrderStatus, "AssessmentStatus", "One status vocabulary covering StackOne, Kombo and Unified.to.", {
        "OPEN": "Ordered; the candidate has not started.",
        "IN_PROGRESS": "The candidate has started the assessment.",
        "COMPLETED": "The assessment is finished; a result (and maybe an outcome) is available.",
        "CANCELLED": "Cancelled before completion.",
        "FAILED": "The assessment could not be carried out (e.g. a technical failure).",
        "REJECTED": "The vendor refused the order (e.g. a package it does not offer).",
        "EXPIRED": "The candidate did not complete it in time.",
    },
)  # fmt: skip
AssessmentOutcome = described(
    models.Outcome, "AssessmentOutcome", "The candidate's verdict, separate from status.", {
        "PASSED": "The candidate passed.",
        "FAILED": "The candidate did not pass.",
    },
)  # fmt: skip
AttributeType = described(models.AttributeType, "AttributeType", "Kind of an additional result attribute.", {
    "TEXT": "A labelled text value.",
    "NUMBER": "A labelled numeric value (sent as text where the provider has no numbers).",
    "SUB_RESULT": "A scored part of the assessment, with its own score and status.",
})  # fmt: skip
DeliveryState = described(
    models.DeliveryState, "DeliveryState", "Where a result stands on its way to the provider.", {
        "PENDING": "Recorded; queued or being sent.",
        "UNCONFIRMED": "A request left but its outcome was not seen; the order is fenced until nextAttemptAt, "
        "then reconciled (Kombo) or sent again.",
        "RETRYING": "The last attempt failed in a way worth retrying; sent again at nextAttemptAt.",
        "DELIVERED": "The provider accepted it.",
        "FAILED": "The provider refused it; not retried automatically (retryDelivery once fixed).",
        "CANCELLED": "Cancelled by cancelDelivery before it was sent.",
        "SUPERSEDED": "A newer result for the same order was recorded first; only the newest is sent.",
    },
)  # fmt: skip
AssessmentOrderSort = described(OrderSort, "AssessmentOrderSort", "Ordering of an order list.", {
    "CREATED_AT_ASC": "Oldest first by the time the order was created.",
    "CREATED_AT_DESC": "Newest first by the time the order was created (the default).",
    "UPDATED_AT_ASC": "Least recently updated first.",
    "UPDATED_AT_DESC": "Most recently updated first.",
})  # fmt: skip
TranslationWarningCode = described(
    models.WarningCode, "TranslationWarningCode", "How the translation to the provider changed a value.", {
        "MOVED": "The provider has no field for the value; it was sent in another field (e.g. a TEXT attribute).",
        "APPROXIMATED": "The provider has no exact equivalent; the nearest value was sent.",
        "DEFAULTED": "The provider needs a value the input did not give; a default was sent.",
        "CLEARED": "An earlier result set this value and this result has none: it is cleared at the provider.",
    },
)  # fmt: skip
ErrorCodeEnum = described(
    ErrorCode, "ErrorCode", "Every code an error can carry, in `extensions.code` and in `errorCode` fields.",
    ERROR_CODE_DESCRIPTIONS,
)


def error_code(value: str | None) -> ErrorCode | None:
    """A recorded error code as the enum; a value no member names reads as INTERNAL_SERVER_ERROR."""
    if value is None:
        return None
    try:
        return ErrorCode(value)
    except ValueError:
        return ErrorCode.INTERNAL_SERVER_ERROR
