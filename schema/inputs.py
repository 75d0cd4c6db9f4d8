"""Input types, each with `to_domain()`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import strawberry
from pydantic import ValidationError
from strawberry.types.base import StrawberryOptional, has_object_definition

from providers import bounds, models
from providers.errors import InvalidInputError
from schema.enums import AssessmentOutcome, AssessmentStatus, AttributeType, Provider
from schema.scalars import JSON, DateTime
from store import OrderFilter


@strawberry.input(description="A score with its scale. Values must be >= 0 and min <= value <= max.")
class ScoreInput:
    value: float = strawberry.field(description="The score.")
    min: float | None = strawberry.field(default=None, description="The lowest possible score.")
    max: float | None = strawberry.field(default=None, description="The highest possible score.")
    label: str | None = strawberry.field(default=None, description="e.g. `Percentage`.")


@strawberry.input(description="A result file, sent to the provider by URL.")
class AttachmentInput:
    url: str = strawberry.field(description="An http(s) URL the provider can fetch the file from.")
    name: str | None = strawberry.field(default=None, description="The file's display name.")
    content_type: str | None = strawberry.field(default=None, description="MIME type, e.g. `application/pdf`.")


@strawberry.input(description="The score of a SUB_RESULT attribute.")
class AttributeScoreInput:
    value: float = strawberry.field(description="The sub-result's score.")
    max: float | None = strawberry.field(default=None, description="The sub-result's highest possible score.")


@strawberry.input(description="An additional result attribute.")
class ResultAttributeInput:
    type: AttributeType = strawberry.field(description="TEXT, NUMBER or SUB_RESULT.")
    label: str = strawberry.field(description="The attribute's label as the ATS shows it.")
    value: str | None = strawberry.field(default=None, description="Required for TEXT; numeric for NUMBER.")
    score: AttributeScoreInput | None = strawberry.field(default=None, description="Required for SUB_RESULT.")
    status: AssessmentStatus | None = strawberry.field(default=None, description="The status of a SUB_RESULT.")
    id: str | None = strawberry.field(default=None, description="Your id for a sub-result.")


@strawberry.input(description="A result to write back to the order's provider.")
class UpdateAssessmentResultInput:
    order_id: strawberry.ID = strawberry.field(description="The order's global id (AssessmentOrder.id).")
    status: AssessmentStatus = strawberry.field(description="The status to set on the order.")
    outcome: AssessmentOutcome | None = strawberry.field(
        default=None, description="PASSED or FAILED; only with status COMPLETED."
    )
    score: ScoreInput | None = strawberry.field(default=None, description="The overall score.")
    summary: str | None = strawberry.field(default=None, description="A short text summary of the result.")
    result_url: str | None = strawberry.field(default=None, description="Where the full result can be seen; required by Kombo.")
    started_at: DateTime | None = strawberry.field(default=None, description="When the candidate started.")
    completed_at: DateTime | None = strawberry.field(default=None, description="When the candidate finished.")
    attachments: list[AttachmentInput] | None = strawberry.field(
        default=None, description="Result files, sent by URL (Kombo: at most 5)."
    )
    attributes: list[ResultAttributeInput] | None = strawberry.field(
        default=None, description="Additional attributes and sub-results."
    )
    candidate_profile_url: str | None = strawberry.field(
        default=None, description="The candidate's profile at the vendor."
    )
    passthrough: JSON | None = strawberry.field(
        default=None,
        description=(
            "Provider-specific extras: StackOne `passthrough`, Kombo `remote_fields`, "
            "Unified.to `{fields, raw, body}`."
        ),
    )
    idempotency_key: str | None = strawberry.field(
        default=None, description="Repeating a key with the same input returns the first result."
    )

    def to_domain(self) -> models.ResultUpdate:
        if self.passthrough is not None and not isinstance(self.passthrough, dict):
            raise InvalidInputError("passthrough must be a JSON object.", field="passthrough")
        data: dict[str, Any] = {
            "status": self.status, "outcome": self.outcome, "summary": self.summary,
            "result_url": self.result_url, "started_at": self.started_at,
            "completed_at": self.completed_at, "candidate_profile_url": self.candidate_profile_url,
            "passthrough": self.passthrough, "idempotency_key": self.idempotency_key,
            "score": _fields(self.score) if self.score else None,
            "attachments": [_fields(a) for a in self.attachments or ()],
            "attributes": [_fields(a) for a in self.attributes or ()],
        }  # fmt: skip
        try:
            return models.ResultUpdate.model_validate(data)
        except ValidationError as exc:
            field, message = bounds.first_problem(exc)
            raise InvalidInputError(f"Invalid {field}: {message}.", field=field) from None


class _Converter:
    """Strawberry's conversion of a GraphQL input value into an input type (the type's `from_input`
    hook), with what does not change between requests worked out once: each field's GraphQL name,
    and whether its value is used as it is (a scalar or an enum, optional or not: what Strawberry
    returns unchanged) or converted the usual way (nested inputs, lists of them). Strawberry's own
    conversion works both out for every field of every value (about 0.1 ms for the result input)."""

    def __init__(self) -> None:
        self._plans: dict[type, tuple[dict[str, None], list[tuple[str, str, Any, bool]]]] = {}

    def __call__(self, cls: type, value: Mapping[str, Any], context: Any) -> Any:
        plan = self._plans.get(cls)
        if plan is None:
            plan = self._plans[cls] = self._plan(cls, context)
        unset, fields = plan
        kwargs: dict[str, Any] = dict(unset)
        for graphql_name, python_name, type_, plain in fields:
            if graphql_name in value:
                item = value[graphql_name]
                kwargs[python_name] = item if plain or item is None else context.convert(item, type_, graphql_name)
        return cls(**kwargs)

    @staticmethod
    def _plan(cls: type, context: Any) -> tuple[dict[str, None], list[tuple[str, str, Any, bool]]]:
        from strawberry.relay.types import GlobalID
        from strawberry.types.arguments import _is_leaf_type

        definition = cls.__strawberry_definition__  # type: ignore[attr-defined]
        names = context.config.name_converter
        unset = {f.python_name: None for f in definition.fields
                 if f.default_value is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}  # fmt: skip
        fields = []
        for field in definition.fields:
            type_ = field.resolve_type(type_definition=definition)
            inner = type_.of_type if isinstance(type_, StrawberryOptional) else type_
            inner = getattr(inner, "__strawberry_definition__", inner) if not has_object_definition(inner) else inner
            plain = inner is not GlobalID and _is_leaf_type(inner, context.scalar_registry)
            fields.append((names.from_field(field), field.python_name, type_, plain))
        return unset, fields


def convert_once(*types: type) -> None:
    """Give these input types the conversion above (nested input types get it only when listed)."""
    converter = _Converter()
    for cls in types:
        cls.__strawberry_definition__.from_input = converter  # type: ignore[attr-defined]


def _fields(value: Any) -> dict[str, Any]:
    """An input object's fields as a dict, its nested input objects too (what `strawberry.asdict`
    gives, without its deep copy of every value: the values are only read)."""
    return {name: _fields(v) if dataclasses.is_dataclass(v) else v for name, v in vars(value).items()}


@strawberry.input(description="Filters for the order list; lists mean any of.")
class AssessmentOrderFilter:
    providers: list[Provider] | None = strawberry.field(default=None, description="Only these providers.")
    connection_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Only these connections (by configured id)."
    )
    statuses: list[AssessmentStatus] | None = strawberry.field(default=None, description="Only these statuses.")
    package_ids: list[str] | None = strawberry.field(default=None, description="Only these packages.")
    candidate_email: str | None = strawberry.field(default=None, description="Candidates with this email.")
    search: str | None = strawberry.field(default=None, description="Substring of candidate name or email.")
    created_after: DateTime | None = strawberry.field(default=None, description="Created at or after (inclusive).")
    created_before: DateTime | None = strawberry.field(default=None, description="Created before (exclusive).")
    updated_after: DateTime | None = strawberry.field(default=None, description="Updated at or after (inclusive).")
    updated_before: DateTime | None = strawberry.field(default=None, description="Updated before (exclusive).")

    def to_domain(self) -> OrderFilter:
        bounded_filter(self)
        return OrderFilter(
            providers=tuple(self.providers or ()), connection_ids=tuple(self.connection_ids or ()),
            statuses=tuple(self.statuses or ()), package_ids=tuple(self.package_ids or ()),
            candidate_email=self.candidate_email, search=self.search,
            created_after=self.created_after, created_before=self.created_before,
            updated_after=self.updated_after, updated_before=self.updated_before,
        )  # fmt: skip




def bounded_filter(f: AssessmentOrderFilter) -> None:
    """Refuse filter values beyond the bounds (the DateTime scalar bounds the dates)."""
    for name in ("providers", "statuses"):
        if len(getattr(f, name) or ()) > bounds.MAX_FILTER_VALUES:
            raise InvalidInputError(f"At most {bounds.MAX_FILTER_VALUES} {_camel(name)} values.", field=_camel(name))
    for name in ("connection_ids", "package_ids"):
        bounded_ids(getattr(f, name), _camel(name))
    for name in ("candidate_email", "search"):
        bounded_text(getattr(f, name), bounds.MAX_SEARCH, _camel(name))


def bounded_ids(values: list[Any] | None, field: str) -> None:
    """A list filter of ids: at most MAX_FILTER_VALUES ids of at most MAX_ID characters each."""
    if len(values or ()) > bounds.MAX_FILTER_VALUES:
        raise InvalidInputError(f"At most {bounds.MAX_FILTER_VALUES} {field} values.", field=field)
    for value in values or ():
        bounded_text(value, bounds.MAX_ID, field)


def bounded_text(value: str | None, limit: int, field: str) -> None:
    if value is None:
        return
    if len(value) > limit:
        raise InvalidInputError(f"{field} is longer than {limit} characters.", field=field)
    try:
        bounds.valid_text(value)
    except ValueError as exc:
        raise InvalidInputError(f"Invalid {field}: {exc}.", field=field) from None


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


convert_once(ScoreInput, AttachmentInput, AttributeScoreInput, ResultAttributeInput, UpdateAssessmentResultInput)
