"""Custom scalars: DateTime (ISO-8601 with an offset, always answered in UTC) and JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NewType

import strawberry
from strawberry.scalars import JSON

from providers.bounds import MAX_DATETIME, MIN_DATETIME, valid_datetime
from providers.errors import InvalidInputError
from providers.formats import iso_millis

MAX_DATETIME_TEXT = 64


def parse_datetime(value: object) -> datetime:
    if not isinstance(value, str):
        raise InvalidInputError("DateTime must be an ISO-8601 string.")
    if len(value) > MAX_DATETIME_TEXT:
        raise InvalidInputError(f"DateTime is longer than {MAX_DATETIME_TEXT} characters.")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidInputError(f"Invalid DateTime {value!r}: use ISO-8601.") from None
    if parsed.tzinfo is None:
        raise InvalidInputError(f"DateTime {value!r} needs a time zone offset or Z.")
    try:
        return valid_datetime(parsed.astimezone(UTC))
    except (OverflowError, ValueError):
        raise InvalidInputError(
            f"DateTime {value!r} is out of range: use {MIN_DATETIME.isoformat()} to {MAX_DATETIME.isoformat()}."
        ) from None


def serialize_datetime(value: datetime) -> str:
    return iso_millis(value)


DateTime = NewType("DateTime", datetime)

SCALAR_MAP = {
    DateTime: strawberry.scalar(
        name="DateTime",
        description="An ISO-8601 date-time with a time zone offset; answered in UTC with milliseconds.",
        serialize=serialize_datetime,
        parse_value=parse_datetime,
    )
}

__all__ = ["JSON", "SCALAR_MAP", "DateTime", "parse_datetime", "serialize_datetime"]
