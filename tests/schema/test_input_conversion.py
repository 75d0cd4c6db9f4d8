"""The input types' conversion worked out once per type (schema/inputs.py `convert_once`) gives what
Strawberry's own conversion gives, for every input type and every shape of value: fields omitted,
explicit nulls, enums, scalars, nested inputs and lists of them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from strawberry.types.arguments import convert_argument

from schema.enums import AssessmentOutcome, AssessmentStatus, AttributeType
from schema.inputs import (
    AttachmentInput,
    AttributeScoreInput,
    ResultAttributeInput,
    ScoreInput,
    UpdateAssessmentResultInput,
)
from schema.root import build_schema

SCHEMA = build_schema()
TYPES = (ScoreInput, AttachmentInput, AttributeScoreInput, ResultAttributeInput, UpdateAssessmentResultInput)

FULL: dict[str, Any] = {
    "orderId": "QXNzZXNzbWVudE9yZGVyOmE6Yg", "status": AssessmentStatus.COMPLETED, "outcome": AssessmentOutcome.PASSED,
    "score": {"value": 7.5, "min": 0.0, "max": 10.0, "label": "Points"}, "summary": "fine", "resultUrl": "https://r.example/1",
    "startedAt": datetime(2026, 11, 1, tzinfo=UTC), "completedAt": datetime(2026, 11, 2, tzinfo=UTC),
    "attachments": [{"url": "https://f.example/a.pdf", "name": "a", "contentType": "application/pdf"}, {"url": "https://f.example/b"}],
    "attributes": [{"type": AttributeType.SUB_RESULT, "label": "part", "score": {"value": 3.0, "max": 5.0},
                    "status": AssessmentStatus.COMPLETED, "id": "p-1"}, {"type": AttributeType.TEXT, "label": "t", "value": "v"}],
    "candidateProfileUrl": "https://v.example/c/1", "passthrough": {"a": [1, {"b": None}]}, "idempotencyKey": "k-1",
}  # fmt: skip
VALUES = [
    FULL,
    {"orderId": "x", "status": AssessmentStatus.IN_PROGRESS},
    {"orderId": "x", "status": AssessmentStatus.COMPLETED, "score": None, "attachments": None, "attributes": [],
     "passthrough": None, "summary": None},  # fmt: skip
    {"orderId": "x", "status": AssessmentStatus.COMPLETED, "score": {"value": 1.0}, "attachments": []},
]


def _strawberrys_own(value: dict[str, Any], type_: type) -> Any:
    hooks = {t: t.__strawberry_definition__.from_input for t in TYPES}  # type: ignore[attr-defined]
    try:
        for t in TYPES:
            t.__strawberry_definition__.from_input = None  # type: ignore[attr-defined]
        return _convert(value, type_)
    finally:
        for t, hook in hooks.items():
            t.__strawberry_definition__.from_input = hook  # type: ignore[attr-defined]


def _convert(value: dict[str, Any], type_: type) -> Any:
    return convert_argument(value, type_, SCHEMA.schema_converter.scalar_registry, SCHEMA.config)


@pytest.mark.parametrize("value", VALUES, ids=["every field", "required only", "nulls and empty lists", "nested, partly"])
def test_the_result_input_converts_as_strawberry_converts_it(value: dict[str, Any]) -> None:
    assert all(t.__strawberry_definition__.from_input is not None for t in TYPES)  # type: ignore[attr-defined]
    ours = _convert(value, UpdateAssessmentResultInput)
    assert ours == _strawberrys_own(value, UpdateAssessmentResultInput)
    assert isinstance(ours, UpdateAssessmentResultInput)
    assert ours.to_domain() == _strawberrys_own(value, UpdateAssessmentResultInput).to_domain()


def test_nested_inputs_are_built_as_their_own_types() -> None:
    ours = _convert(FULL, UpdateAssessmentResultInput)
    assert isinstance(ours.score, ScoreInput) and ours.score.label == "Points"
    assert [type(a) for a in ours.attachments] == [AttachmentInput, AttachmentInput]
    assert ours.attachments[1].name is None and ours.attachments[0].content_type == "application/pdf"
    first = ours.attributes[0]
    assert isinstance(first, ResultAttributeInput) and isinstance(first.score, AttributeScoreInput)
    assert ours.status is AssessmentStatus.COMPLETED and ours.passthrough == {"a": [1, {"b": None}]}
