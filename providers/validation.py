"""Provider-neutral checks on a result before any translation: scores, urls, dates, combinations."""

from __future__ import annotations

import math
from urllib.parse import urlsplit

from providers.bounds import finite_number_text
from providers.errors import InvalidInputError
from providers.models import (
    AttributeType,
    OrderStatus,
    ResultAttribute,
    ResultUpdate,
    Score,
)


def validate_update(update: ResultUpdate) -> None:
    """Raise InvalidInputError (with the offending field) for a result no provider should get."""
    if update.outcome is not None and update.status is not OrderStatus.COMPLETED:
        raise InvalidInputError("An outcome can only be given with status COMPLETED.", field="outcome")
    if update.score is not None:
        _check_score(update.score)
    _check_url(update.result_url, "resultUrl")
    _check_url(update.candidate_profile_url, "candidateProfileUrl")
    for index, attachment in enumerate(update.attachments):
        _check_url(attachment.url, f"attachments[{index}].url")
    if update.started_at and update.completed_at and update.completed_at < update.started_at:
        raise InvalidInputError("completedAt is earlier than startedAt.", field="completedAt")
    for index, attribute in enumerate(update.attributes):
        _check_attribute(index, attribute)


def _check_score(score: Score) -> None:
    for name in ("value", "min", "max"):
        number = getattr(score, name)
        if number is not None and not math.isfinite(number):
            raise InvalidInputError(f"score.{name} must be a finite number.", field=f"score.{name}")
        if number is not None and number < 0:
            raise InvalidInputError(f"score.{name} must not be negative.", field=f"score.{name}")
    if score.min is not None and score.max is not None and score.min > score.max:
        raise InvalidInputError("score.min is above score.max.", field="score.min")
    if score.max is not None and score.value > score.max:
        raise InvalidInputError("score.value is above score.max.", field="score.value")
    if score.min is not None and score.value < score.min:
        raise InvalidInputError("score.value is below score.min.", field="score.value")


def _check_url(url: str | None, field: str) -> None:
    if url is None:
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in url:
        raise InvalidInputError(f"{field} must be an absolute http(s) URL.", field=field)


def _check_attribute(index: int, attribute: ResultAttribute) -> None:
    field = f"attributes[{index}]"
    if not attribute.label.strip():
        raise InvalidInputError("An attribute needs a label.", field=f"{field}.label")
    if attribute.type is AttributeType.NUMBER:
        try:
            finite_number_text(attribute.value or "")
        except ValueError:
            raise InvalidInputError(
                "A NUMBER attribute needs a finite numeric value.", field=f"{field}.value"
            ) from None
    if attribute.type is AttributeType.SUB_RESULT and attribute.score is None:
        raise InvalidInputError("A SUB_RESULT attribute needs a score.", field=f"{field}.score")
    if attribute.type is AttributeType.TEXT and attribute.value is None:
        raise InvalidInputError("A TEXT attribute needs a value.", field=f"{field}.value")
    if attribute.score is not None:
        if attribute.score.value < 0 or (attribute.score.max is not None and attribute.score.max < 0):
            raise InvalidInputError("Attribute scores must not be negative.", field=f"{field}.score")
        if attribute.score.max is not None and attribute.score.value > attribute.score.max:
            raise InvalidInputError("Attribute score is above its max.", field=f"{field}.score")
