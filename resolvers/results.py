"""Writing a result: record it, send it through the order's adapter, merge the answer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from providers.errors import DomainError, OrderNotFoundError, ResultConflictError
from providers.models import (
    AssessmentOrder,
    AssessmentResult,
    Delivery,
    DeliveryState,
    OrderRef,
    ResultUpdate,
)
from providers.validation import validate_update
from resolvers.context import AppContext
from resolvers.merge import merge_delivered


@dataclass(frozen=True)
class ResultWritten:
    order: AssessmentOrder
    result: AssessmentResult


async def update_assessment_result(
    ctx: AppContext, order_id: str, update: ResultUpdate
) -> ResultWritten:
    """Validate, translate, record, deliver and merge one result.

    The result and its PENDING delivery are stored before the provider is called, so a
    failed or interrupted call never loses what the caller submitted.
    """
    ref = OrderRef.parse(order_id)
    adapter = ctx.adapter_for(ref)
    order = (await ctx.store.get_orders([ref])).get(ref)
    if order is None:
        raise OrderNotFoundError("No such assessment order.")
    validate_update(update)
    previous = (await ctx.store.latest_results([ref])).get(ref)
    repeated = _idempotent_repeat(previous, update)
    if repeated is not None:
        return ResultWritten(order, repeated)
    now = ctx.clock()
    prepared = adapter.prepare_result(order, update, previous, now)
    result = AssessmentResult(
        id=str(uuid.uuid4()),
        update=update,
        submitted_at=now,
        warnings=prepared.warnings,
        delivery=Delivery(state=DeliveryState.PENDING, updated_at=now),
    )
    await ctx.store.record_result(ref, result, prepared.body)
    try:
        outcome = await adapter.send_result(order, prepared)
    except DomainError as error:
        failed = Delivery(
            state=DeliveryState.FAILED,
            attempts=1,
            provider_status_code=error.status,
            error_code=error.code.value,
            error_message=error.message,
            updated_at=ctx.clock(),
        )
        await ctx.store.finish_delivery(ref, result.id, failed, None)
        raise
    done = ctx.clock()
    delivered = Delivery(
        state=DeliveryState.DELIVERED,
        attempts=1,
        provider_status_code=outcome.status_code,
        provider_message=outcome.message,
        provider_warnings=outcome.provider_warnings,
        updated_at=done,
    )
    merged = merge_delivered(order, update, prepared, outcome, done)
    await ctx.store.finish_delivery(ref, result.id, delivered, merged)
    return ResultWritten(merged, result.model_copy(update={"delivery": delivered}))


def _idempotent_repeat(
    previous: AssessmentResult | None, update: ResultUpdate
) -> AssessmentResult | None:
    """The earlier result when `update` repeats its idempotency key; CONFLICT if it differs."""
    key = update.idempotency_key
    if key is None or previous is None or previous.update.idempotency_key != key:
        return None
    if previous.delivery.state is DeliveryState.FAILED:
        return None  # a repeat of a failed write is a new attempt
    if previous.update != update:
        raise ResultConflictError(
            "This idempotency key was already used with a different input.", field="idempotencyKey"
        )
    return previous
