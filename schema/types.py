"""Output types: the unified AssessmentOrder and everything hanging off it."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from providers import models
from schema.context import GraphQLContext
from schema.enums import (
    AssessmentOutcome,
    AssessmentStatus,
    AttributeType,
    DeliveryState,
    Provider,
)
from schema.scalars import JSON, DateTime


@strawberry.type(description="A configured tenant of one provider.")
class Connection:
    id: strawberry.ID = strawberry.field(description="The connection's configured id.")
    provider: Provider


@strawberry.type(description="The assessment package (test) the order asks for.")
class AssessmentPackage:
    id: str = strawberry.field(description="The vendor's package id.")
    name: str | None


@strawberry.type(description="The candidate to assess, as the ATS describes them.")
class Candidate:
    remote_id: str | None = strawberry.field(description="The candidate's id in the ATS.")
    first_name: str | None
    last_name: str | None
    name: str | None = strawberry.field(
        description="Full name as the provider gives it; otherwise the first and last name joined."
    )
    emails: list[str]
    phones: list[str]
    profile_url: str | None
    resume_url: str | None


@strawberry.type(description="The job application the order belongs to.")
class Application:
    remote_id: str | None


@strawberry.type(description="The job the candidate applied for.")
class Job:
    remote_id: str | None
    title: str | None
    code: str | None
    description: str | None
    location: str | None


@strawberry.type(description="A score with its scale.")
class Score:
    value: float
    min: float | None
    max: float | None
    label: str | None


@strawberry.type(description="A file of the result, sent by URL.")
class Attachment:
    url: str
    name: str | None
    content_type: str | None


@strawberry.type(description="A score of a sub-result.")
class AttributeScore:
    value: float
    max: float | None


@strawberry.type(description="An additional result attribute: text, number or sub-result.")
class ResultAttribute:
    type: AttributeType
    label: str
    value: str | None
    score: AttributeScore | None
    status: AssessmentStatus | None
    id: str | None


@strawberry.type(description="A value the translation to the provider changed, moved or approximated.")
class TranslationWarning:
    code: str = strawberry.field(description="MOVED, APPROXIMATED or DEFAULTED.")
    field: str = strawberry.field(description="The input path of the value, e.g. `score.label`.")
    message: str


@strawberry.type(description="The state of a result's delivery to the provider.")
class Delivery:
    state: DeliveryState
    attempts: int = strawberry.field(description="Attempts made, whether or not a request was sent.")
    sends: int = strawberry.field(
        description="Requests that left the service for the provider. More than one means the provider may "
        "have received the result more than once (writes set absolute state, so that is harmless)."
    )
    reconciled: bool = strawberry.field(
        description="DELIVERED because reading the provider back showed an unconfirmed write had landed."
    )
    provider_status_code: int | None = strawberry.field(description="HTTP status of the last answer.")
    provider_message: str | None = strawberry.field(description="The provider's success message.")
    provider_warnings: list[str] = strawberry.field(description="Warnings the provider returned.")
    error_code: str | None = strawberry.field(description="The error code of the last failure.")
    error_message: str | None = strawberry.field(description="What the last failure was, or why the write is queued.")
    updated_at: DateTime | None
    next_attempt_at: DateTime | None = strawberry.field(
        description="When the background deliverer tries again (PENDING and RETRYING); for UNCONFIRMED, "
        "when the quarantine ends."
    )

    @classmethod
    def from_domain(cls, d: models.Delivery) -> Delivery:
        return cls(
            state=d.state, attempts=d.attempts, sends=d.sends, reconciled=d.reconciled, provider_status_code=d.provider_status_code,
            provider_message=d.provider_message, provider_warnings=list(d.provider_warnings),
            error_code=d.error_code, error_message=d.error_message, updated_at=d.updated_at,
            next_attempt_at=d.next_attempt_at,
        )  # fmt: skip


@strawberry.type(description="The last result submitted for an order.")
class AssessmentResult:
    id: strawberry.ID
    status: AssessmentStatus
    outcome: AssessmentOutcome | None
    score: Score | None
    summary: str | None
    result_url: str | None
    started_at: DateTime | None
    completed_at: DateTime | None
    attachments: list[Attachment]
    attributes: list[ResultAttribute]
    candidate_profile_url: str | None
    passthrough: JSON | None
    idempotency_key: str | None
    submitted_at: DateTime
    warnings: list[TranslationWarning]
    delivery: Delivery

    @classmethod
    def from_domain(cls, r: models.AssessmentResult) -> AssessmentResult:
        u = r.update
        return cls(
            id=strawberry.ID(r.id), status=u.status, outcome=u.outcome,
            score=Score(**u.score.model_dump()) if u.score else None,
            summary=u.summary, result_url=u.result_url, started_at=u.started_at,
            completed_at=u.completed_at,
            attachments=[Attachment(**a.model_dump()) for a in u.attachments],
            attributes=[_attribute(a) for a in u.attributes],
            candidate_profile_url=u.candidate_profile_url, passthrough=u.passthrough,
            idempotency_key=u.idempotency_key, submitted_at=r.submitted_at,
            warnings=[TranslationWarning(**w.model_dump()) for w in r.warnings],
            delivery=Delivery.from_domain(r.delivery),
        )  # fmt: skip


def _attribute(a: models.ResultAttribute) -> ResultAttribute:
    score = AttributeScore(value=a.score.value, max=a.score.max) if a.score else None
    return ResultAttribute(
        type=a.type, label=a.label, value=a.value, score=score, status=a.status, id=a.id
    )


@strawberry.federation.type(
    keys=["id"], description="An assessment order from any provider, in one unified shape."
)
class AssessmentOrder:
    id: strawberry.ID = strawberry.field(
        description="Stable opaque global id encoding the connection and the provider's order id."
    )
    provider: Provider
    connection: Connection
    provider_order_id: str = strawberry.field(description="The order's id at the provider.")
    status: AssessmentStatus
    provider_status: str | None = strawberry.field(
        description="The provider's raw status value, kept so unknown future values are not lost."
    )
    package: AssessmentPackage | None
    candidate: Candidate
    application: Application | None
    job: Job | None
    created_at: DateTime | None
    updated_at: DateTime | None
    provider_data: JSON = strawberry.field(
        description="The provider's own order record, as last received or returned."
    )

    @strawberry.field(description="The last submitted result with its delivery state.")
    async def result(self, info: Info[GraphQLContext, None]) -> AssessmentResult | None:
        found = await info.context.results.load(models.OrderRef.parse(self.id))
        return AssessmentResult.from_domain(found) if found else None

    @classmethod
    async def resolve_reference(
        cls, info: Info[GraphQLContext, None], id: strawberry.ID
    ) -> AssessmentOrder:
        return cls.from_domain(await info.context.orders.load(id))

    @classmethod
    def from_domain(cls, o: models.AssessmentOrder) -> AssessmentOrder:
        c, job = o.candidate, o.job
        return cls(
            id=strawberry.ID(o.global_id), provider=o.provider,
            connection=Connection(id=strawberry.ID(o.connection_id), provider=o.provider),
            provider_order_id=o.provider_order_id, status=o.status, provider_status=o.provider_status,
            package=AssessmentPackage(id=o.package.id, name=o.package.name) if o.package else None,
            candidate=Candidate(
                remote_id=c.remote_id, first_name=c.first_name, last_name=c.last_name,
                name=c.name or " ".join(p for p in (c.first_name, c.last_name) if p) or None,
                emails=list(c.emails), phones=list(c.phones), profile_url=c.profile_url,
                resume_url=c.resume_url,
            ),
            application=Application(remote_id=o.application.remote_id) if o.application else None,
            job=Job(**job.model_dump()) if job else None,
            created_at=o.created_at, updated_at=o.updated_at, provider_data=o.raw,
        )  # fmt: skip

