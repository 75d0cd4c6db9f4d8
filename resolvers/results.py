"""Writing a result: record it with its delivery, then try to deliver it within the mutation deadline."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import timedelta

from providers.errors import ErrorCode, InvalidInputError, OrderNotFoundError, ResultConflictError
from providers.guard import ConnectionGuard
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
from resolvers.delivery import DeliveryView, deliver_within_deadline, retry_now
from resolvers.live import order_events
from resolvers.tracing import with_trace_context
from store.decode import readable
from store.interface import DeliveryRecord, IdempotencyKeyTaken, OrderEventKind


@dataclass(frozen=True)
class ResultWritten:
    order: AssessmentOrder
    result: AssessmentResult


async def update_assessment_result(
    ctx: AppContext, order_id: str, update: ResultUpdate, *, header_key: str | None = None
) -> ResultWritten:
    """Validate, translate, record, deliver and merge one result.

    The result and its PENDING delivery are stored in one transaction before the provider is
    called, so a failed or interrupted call never loses what the caller submitted. `header_key`
    is the request's `Idempotency-Key` header, used when the input has no key.
    """
    ref = OrderRef.parse(order_id)
    adapter = ctx.adapter_for(ref)
    update = _with_key(update, header_key)
    stored, latest = await ctx.store.order_and_latest_result(ref)
    order = readable(stored) if stored is not None else None
    if order is None:
        raise OrderNotFoundError("No such assessment order.")
    validate_update(update)
    key = update.idempotency_key
    if key is not None:
        earlier = await ctx.store.find_by_idempotency_key(ref, key)
        if earlier is not None:
            return await _repeat(ctx, order, earlier, update)
    previous = readable(latest) if latest is not None else None
    now = ctx.clock()
    prepared = adapter.prepare_result(order, update, previous, now)
    connection = ctx.connections[ref.connection_id]
    guard = ctx.dispatch.guard(connection)
    # Wait briefly for a slot under the in-flight cap; none while the breaker is open or paused.
    reserved = await guard.reserve(ctx.dispatch.policy.mutation_deadline_seconds / 2)
    result = AssessmentResult(
        id=str(uuid.uuid4()), update=update, submitted_at=now, warnings=prepared.warnings,
        delivery=_pending(now) if reserved else _queued(guard, now),
    )  # fmt: skip
    claim = ctx.dispatch.claim(now, [connection]) if reserved else None
    body, prepared_json = prepared.body, with_trace_context(prepared.model_dump(mode="json"))
    leased: int | None = None
    taken = False
    recorded = order_events(ctx.events, OrderEventKind.RESULT_RECORDED, [order], now)  # committed with the result
    try:
        # The attempt starts at once: the send is begun in the recording transaction (one commit less).
        leased = await ctx.store.record_delivery(
            ref, result, body, prepared_json, claim, recorded, begin_send=True, durable=False
        )
    except IdempotencyKeyTaken:  # the same key arrived at the same moment (here or on another instance)
        taken = True
    finally:
        if reserved and leased is None:
            guard.unreserve()
    if not taken and ctx.events is not None:
        ctx.events.appended()
    if taken:
        assert key is not None
        earlier = await ctx.store.find_by_idempotency_key(ref, key)
        assert earlier is not None
        return await _repeat(ctx, order, earlier, update)
    ctx.observer.delivery_transition(ref.connection_id, "NEW", result.delivery.state.value)
    if leased is None:  # queued: another write for the order is in flight, or the connection is held back
        ctx.dispatch.queued()
        return ResultWritten(order, result)
    counted = result.model_copy(update={"delivery": result.delivery.send_counted()})  # as the store recorded it
    record = DeliveryRecord(
        ref=ref, result=counted, prepared=prepared_json, request_body=body, claimed_by=ctx.dispatch.instance_id,
        token=leased, begun=True,
    )
    return _written(await _answered_on_disk(ctx, deliver_within_deadline(ctx, order, record, prepared)))


async def _answered_on_disk(ctx: AppContext, attempt: Awaitable[DeliveryView]) -> DeliveryView:
    """The attempt's view once what the answer promises is on disk. The result was recorded without
    waiting for the disk (`durable=False`): a delivered result may be answered at once (the provider
    has it; the store syncs it within its window). Any other answer (waiting, retrying, failed, an
    error) says the result is kept here to be sent, so the store is synced before it leaves."""
    try:
        view = await attempt
    except BaseException:
        await ctx.store.on_disk()
        raise
    if view.result.delivery.state is not DeliveryState.DELIVERED:
        await ctx.store.on_disk()
    return view


def _with_key(update: ResultUpdate, header_key: str | None) -> ResultUpdate:
    if header_key is None:
        return update
    if update.idempotency_key is None:
        return update.model_copy(update={"idempotency_key": header_key})
    if update.idempotency_key != header_key:
        raise InvalidInputError(
            "The Idempotency-Key header and idempotencyKey differ.", field="idempotencyKey"
        )
    return update


def _pending(now: object) -> Delivery:
    return Delivery(state=DeliveryState.PENDING, updated_at=now, next_attempt_at=now)  # type: ignore[arg-type]


def _queued(guard: ConnectionGuard, now: object) -> Delivery:
    """A write the connection guard holds back: due when the breaker lets writes through again."""
    wait = guard.wait_seconds()
    if guard.paused:
        message = f"{guard.provider.value} asked us to slow down (429); the write is queued."
        code: str | None = ErrorCode.PROVIDER_RATE_LIMITED.value
    elif wait > 0:
        message = f"{guard.provider.value} is failing; the write is queued."
        code = ErrorCode.PROVIDER_UNAVAILABLE.value
    else:
        message, code = f"{guard.in_flight} writes are in flight on this connection; the write is queued.", None
    due = now + timedelta(seconds=wait)  # type: ignore[operator]
    return Delivery(
        state=DeliveryState.PENDING, updated_at=now, next_attempt_at=due, error_code=code, error_message=message
    )  # type: ignore[arg-type]


async def _repeat(
    ctx: AppContext, order: AssessmentOrder, earlier: DeliveryRecord, update: ResultUpdate
) -> ResultWritten:
    """The same key again: the first result (no second write); CONFLICT when the input differs.
    A repeat of a FAILED write sends it again."""
    if earlier.result.update != update:
        raise ResultConflictError(
            "This idempotency key was already used with a different input.", field="idempotencyKey"
        )
    if earlier.result.delivery.state is DeliveryState.FAILED and earlier.newest:
        return _written(await retry_now(ctx, order, earlier))
    return ResultWritten(order, earlier.result)


def _written(view: DeliveryView) -> ResultWritten:
    return ResultWritten(view.order, view.result)
