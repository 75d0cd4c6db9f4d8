"""Output types: the unified AssessmentOrder and everything hanging off it."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from providers import models
from providers.errors import ErrorCode
from schema.context import GraphQLContext
from schema.enums import (
    AssessmentOutcome,
    AssessmentStatus,
    AttributeType,
    DeliveryState,
    Provider,
    TranslationWarningCode,
    error_code,
)
from schema.scalars import JSON, DateTime


@strawberry.type(description="A configured tenant of one provider.")
class Connection:
    id: strawberry.ID = strawberry.field(description="The connection's configured id.")
    provider: Provider = strawberry.field(description="The provider this connection talks to.")


@strawberry.type(description="The assessment package (test) the order asks for.")
class AssessmentPackage:
    id: str = strawberry.field(description="The vendor's package id.")
    name: str | None = strawberry.field(description="The package's display name, when the provider sends one.")


@strawberry.type(description="The candidate to assess, as the ATS describes them.")
class Candidate:
    remote_id: str | None = strawberry.field(description="The candidate's id in the ATS.")
    first_name: str | None = strawberry.field(description="The candidate's first name.")
    last_name: str | None = strawberry.field(description="The candidate's last name.")
    name: str | None = strawberry.field(
        description="Full name as the provider gives it; otherwise the first and last name joined."
    )
    emails: list[str] = strawberry.field(description="The candidate's email addresses, primary first.")
    phones: list[str] = strawberry.field(description="The candidate's phone numbers.")
    profile_url: str | None = strawberry.field(description="The candidate's profile in the ATS.")
    resume_url: str | None = strawberry.field(description="A link to the candidate's resume, when the ATS shares one.")


@strawberry.type(description="The job application the order belongs to.")
class Application:
    remote_id: str | None = strawberry.field(description="The application's id in the ATS.")


@strawberry.type(description="The job the candidate applied for.")
class Job:
    remote_id: str | None = strawberry.field(description="The job's id in the ATS.")
    title: str | None = strawberry.field(description="The job title.")
    code: str | None = strawberry.field(description="The job's requisition code.")
    description: str | None = strawberry.field(description="The job description, as the provider sends it.")
    location: str | None = strawberry.field(description="Where the job is based.")


@strawberry.type(description="A score with its scale.")
class Score:
    value: float = strawberry.field(description="The score.")
    min: float | None = strawberry.field(description="The lowest possible score.")
    max: float | None = strawberry.field(description="The highest possible score.")
    label: str | None = strawberry.field(description="What the score means, e.g. `Percentage`.")


@strawberry.type(description="A file of the result, sent by URL.")
class Attachment:
    url: str = strawberry.field(description="Where the provider fetches the file.")
    name: str | None = strawberry.field(description="The file's display name.")
    content_type: str | None = strawberry.field(description="MIME type, e.g. `application/pdf`.")


@strawberry.type(description="A score of a sub-result.")
class AttributeScore:
    value: float = strawberry.field(description="The sub-result's score.")
    max: float | None = strawberry.field(description="The sub-result's highest possible score.")


@strawberry.type(description="An additional result attribute: text, number or sub-result.")
class ResultAttribute:
    type: AttributeType = strawberry.field(description="TEXT, NUMBER or SUB_RESULT.")
    label: str = strawberry.field(description="The attribute's label as the ATS shows it.")
    value: str | None = strawberry.field(description="The value of a TEXT or NUMBER attribute.")
    score: AttributeScore | None = strawberry.field(description="The score of a SUB_RESULT.")
    status: AssessmentStatus | None = strawberry.field(description="The status of a SUB_RESULT.")
    id: str | None = strawberry.field(description="The vendor's id of a sub-result.")


@strawberry.type(description="A value the translation to the provider changed, moved or approximated.")
class TranslationWarning:
    code: TranslationWarningCode = strawberry.field(description="MOVED, APPROXIMATED or DEFAULTED.")
    field: str = strawberry.field(description="The input path of the value, e.g. `score.label`.")
    message: str = strawberry.field(description="What was done with the value, for people.")

    @classmethod
    def from_domain(cls, w: models.TranslationWarning) -> TranslationWarning:
        return cls(code=w.code, field=w.field, message=w.message)


@strawberry.type(description="The state of a result's delivery to the provider.")
class Delivery:
    state: DeliveryState = strawberry.field(description="Where the result stands on its way to the provider.")
    attempts: int = strawberry.field(description="Finished attempts to send it.")
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
    error_code: ErrorCode | None = strawberry.field(
        description="The error code of the last failure, or why the write is queued."
    )
    error_message: str | None = strawberry.field(description="What the last failure was, or why the write is queued.")
    updated_at: DateTime | None = strawberry.field(description="When the delivery last changed.")
    next_attempt_at: DateTime | None = strawberry.field(
        description="When the background deliverer tries again (PENDING and RETRYING); for UNCONFIRMED, "
        "when the quarantine ends."
    )

    @classmethod
    def from_domain(cls, d: models.Delivery) -> Delivery:
        return cls(
            state=d.state, attempts=d.attempts, sends=d.sends, reconciled=d.reconciled, provider_status_code=d.provider_status_code,
            provider_message=d.provider_message, provider_warnings=list(d.provider_warnings),
            error_code=error_code(d.error_code), error_message=d.error_message, updated_at=d.updated_at,
            next_attempt_at=d.next_attempt_at,
        )  # fmt: skip


@strawberry.type(description="The last result submitted for an order.")
class AssessmentResult:
    id: strawberry.ID = strawberry.field(description="The result's id (for retryDelivery and cancelDelivery).")
    status: AssessmentStatus = strawberry.field(description="The status the result sets on the order.")
    outcome: AssessmentOutcome | None = strawberry.field(description="PASSED or FAILED, with COMPLETED only.")
    score: Score | None = strawberry.field(description="The overall score.")
    summary: str | None = strawberry.field(description="A short text summary of the result.")
    result_url: str | None = strawberry.field(description="Where the full result can be seen at the vendor.")
    started_at: DateTime | None = strawberry.field(description="When the candidate started.")
    completed_at: DateTime | None = strawberry.field(description="When the candidate finished.")
    attachments: list[Attachment] = strawberry.field(description="Result files, sent by URL.")
    attributes: list[ResultAttribute] = strawberry.field(description="Additional attributes and sub-results.")
    candidate_profile_url: str | None = strawberry.field(description="The candidate's profile at the vendor.")
    passthrough: JSON | None = strawberry.field(description="Provider-specific extras sent with the result.")
    idempotency_key: str | None = strawberry.field(description="The idempotency key the result was written with.")
    submitted_at: DateTime = strawberry.field(description="When the service recorded the result.")
    warnings: list[TranslationWarning] = strawberry.field(
        description="Every translation that changed, moved or approximated a value."
    )
    delivery: Delivery = strawberry.field(description="The result's delivery to the provider.")

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
            warnings=[TranslationWarning.from_domain(w) for w in r.warnings],
            delivery=Delivery.from_domain(r.delivery),
        )  # fmt: skip


def _attribute(a: models.ResultAttribute) -> ResultAttribute:
    score = AttributeScore(value=a.score.value, max=a.score.max) if a.score else None
    return ResultAttribute(
        type=a.type, label=a.label, value=a.value, score=score, status=a.status, id=a.id
    )


@strawberry.interface(description="An object with a global id, fetched again with `node(id:)` (Relay).")
class Node:
    id: strawberry.ID = strawberry.field(description="The object's global id.")


@strawberry.federation.type(
    keys=["id"], description="An assessment order from any provider, in one unified shape."
)
class AssessmentOrder(Node):
    id: strawberry.ID = strawberry.field(
        description="Stable opaque global id encoding the connection and the provider's order id."
    )
    provider: Provider = strawberry.field(description="The provider the order came from.")
    connection: Connection = strawberry.field(description="The configured connection the order came through.")
    provider_order_id: str = strawberry.field(description="The order's id at the provider.")
    status: AssessmentStatus = strawberry.field(description="The order's status in the unified vocabulary.")
    provider_status: str | None = strawberry.field(
        description="The provider's raw status value, kept so unknown future values are not lost."
    )
    package: AssessmentPackage | None = strawberry.field(description="The package (test) ordered.")
    candidate: Candidate = strawberry.field(description="The candidate to assess.")
    application: Application | None = strawberry.field(description="The job application the order belongs to.")
    job: Job | None = strawberry.field(description="The job the candidate applied for.")
    created_at: DateTime | None = strawberry.field(description="When the order was created at the provider.")
    updated_at: DateTime | None = strawberry.field(description="When the order last changed.")
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
            job=Job(remote_id=job.remote_id, title=job.title, code=job.code, description=job.description,
                    location=job.location) if job else None,
            created_at=o.created_at, updated_at=o.updated_at, provider_data=o.raw,
        )  # fmt: skip

