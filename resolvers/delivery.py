"""Delivering recorded results: one attempt, the retry schedule, retry-now, cancel, the due queue.

Every attempt runs under a claim (the order's lease, store/outbox.py), so no two writes for one
order are ever in flight at once, on any instance. A retryable failure (`DomainError.retryable`:
timeouts, connection errors, 5xx, 429/408, malformed answers) leaves the delivery RETRYING with
its next attempt time; any other refusal is FAILED and waits for a person (`retryDelivery`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from providers.errors import DomainError, ErrorCode, InvalidInputError, OrderNotFoundError, ResultConflictError
from providers.models import AssessmentOrder, AssessmentResult, Delivery, DeliveryState
from providers.protocol import PreparedWrite, WriteOutcome
from resolvers.context import AppContext
from resolvers.live import emit
from resolvers.merge import merge_delivered
from store.interface import DeliveryPage, DeliveryRecord, OrderEventKind

log = logging.getLogger("gateway.delivery")

WAITING = (DeliveryState.PENDING, DeliveryState.RETRYING)
RETRIABLE_NOW = (DeliveryState.FAILED, DeliveryState.RETRYING)


@dataclass(frozen=True)
class Attempted:
    delivery: Delivery
    order: AssessmentOrder | None  # the merged order when delivered
    error: BaseException | None = None


@dataclass(frozen=True)
class DeliveryView:
    """A result with its order, as the mutations and the deliveries list return it."""

    order: AssessmentOrder
    result: AssessmentResult


def prepared_of(record: DeliveryRecord) -> PreparedWrite:
    if record.prepared is not None:
        return PreparedWrite.model_validate(record.prepared)
    return PreparedWrite(body=record.request_body)  # recorded before migration 0004


async def attempt(ctx: AppContext, record: DeliveryRecord) -> Attempted:
    """Send a claimed delivery once, in the slot reserved for it, and store the outcome; then wake
    the deliverer (a slot and the order are free: more may be due)."""
    try:
        attempted = await _attempt(ctx, record)
    finally:
        ctx.dispatch.wake()
    await _delivery_changed(ctx, record, attempted.order)
    return attempted


async def _delivery_changed(ctx: AppContext, record: DeliveryRecord, order: AssessmentOrder | None) -> None:
    """A DELIVERY_CHANGED event for the order (read from the store when not at hand)."""
    if ctx.events is None:
        return
    if order is None:
        order = (await ctx.store.get_orders([record.ref])).get(record.ref)
    if order is not None:
        await emit(ctx.store, ctx.events, OrderEventKind.DELIVERY_CHANGED, [order], ctx.clock())


async def _attempt(ctx: AppContext, record: DeliveryRecord) -> Attempted:
    ref, result = record.ref, record.result
    connection = ctx.connections[ref.connection_id]
    guard, holder = ctx.dispatch.guard(connection), ctx.dispatch.instance_id
    attempts = result.delivery.attempts + 1
    prepared = prepared_of(record)
    order: AssessmentOrder | None = None

    async def send() -> WriteOutcome:
        nonlocal order
        order = (await ctx.store.get_orders([ref])).get(ref)
        if order is None:
            raise OrderNotFoundError("No such assessment order.")
        return await ctx.adapter_for(ref).send_result(order, prepared)

    try:
        outcome = await guard.run(send)
    except DomainError as error:
        failed = _after_failure(ctx, attempts, error)
        stored = await ctx.store.finish_attempt(ref, result.id, failed, None, holder)
        log.info("delivery %s attempt %d: %s (%s)", result.id, attempts, error.code.value, stored.state.value)
        return Attempted(stored, None, error)
    except Exception as exc:  # a bug: recorded as FAILED so it is visible and can be retried by hand
        log.exception("delivery %s attempt %d failed unexpectedly", result.id, attempts)
        failed = Delivery(
            state=DeliveryState.FAILED, attempts=attempts, error_code=ErrorCode.INTERNAL_SERVER_ERROR.value,
            error_message="Unexpected error.", updated_at=ctx.clock(),
        )  # fmt: skip
        return Attempted(await ctx.store.finish_attempt(ref, result.id, failed, None, holder), None, exc)
    done = ctx.clock()
    assert order is not None
    delivered = Delivery(
        state=DeliveryState.DELIVERED, attempts=attempts, provider_status_code=outcome.status_code,
        provider_message=outcome.message, provider_warnings=outcome.provider_warnings, updated_at=done,
    )  # fmt: skip
    merged = merge_delivered(order, result.update, prepared, outcome, done)
    await ctx.store.finish_attempt(ref, result.id, delivered, merged, holder)
    return Attempted(delivered, merged)


def _after_failure(ctx: AppContext, attempts: int, error: DomainError) -> Delivery:
    now = ctx.clock()
    base = Delivery(
        state=DeliveryState.FAILED, attempts=attempts, provider_status_code=error.status,
        error_code=error.code.value, error_message=error.message, updated_at=now,
    )  # fmt: skip
    if not error.retryable:
        return base
    wait = ctx.dispatch.backoff(attempts, getattr(error, "retry_after", None))
    return base.model_copy(update={"state": DeliveryState.RETRYING, "next_attempt_at": now + wait})


async def deliver_within_deadline(ctx: AppContext, order: AssessmentOrder, record: DeliveryRecord) -> DeliveryView:
    """Attempt a claimed delivery and wait for it up to the mutation deadline. A permanent refusal is
    raised (the result stays FAILED); past the deadline the attempt goes on and PENDING is returned."""
    task = ctx.dispatch.spawn(attempt(ctx, record))
    done, _ = await asyncio.wait({task}, timeout=ctx.dispatch.policy.mutation_deadline_seconds)
    if not done:
        return DeliveryView(order, record.result)
    attempted: Attempted = task.result()
    if attempted.delivery.state is DeliveryState.FAILED and attempted.error is not None:
        raise attempted.error
    return DeliveryView(attempted.order or order, record.result.model_copy(update={"delivery": attempted.delivery}))


async def _order_of(ctx: AppContext, record: DeliveryRecord) -> AssessmentOrder:
    order = (await ctx.store.get_orders([record.ref])).get(record.ref)
    if order is None:
        raise OrderNotFoundError("No such assessment order.")
    return order


async def _record(ctx: AppContext, result_id: str) -> DeliveryRecord:
    record = await ctx.store.get_delivery(result_id, ctx.clock())
    if record is None or record.ref.connection_id not in ctx.adapters:
        raise OrderNotFoundError("No such result.", field="resultId")
    return record


async def retry_delivery(ctx: AppContext, result_id: str) -> DeliveryView:
    """Send a FAILED or RETRYING delivery now (the breaker is bypassed, the in-flight cap is not)."""
    record = await _record(ctx, result_id)
    state = record.result.delivery.state
    if state not in RETRIABLE_NOW:
        raise ResultConflictError(
            f"The delivery is {state.value}; only FAILED or RETRYING deliveries can be retried.", field="resultId"
        )
    if not record.newest:
        raise ResultConflictError("A newer result for this order was recorded; it replaces this one.", field="resultId")
    return await retry_now(ctx, await _order_of(ctx, record), record)


async def retry_now(ctx: AppContext, order: AssessmentOrder, record: DeliveryRecord) -> DeliveryView:
    connection = ctx.connections[record.ref.connection_id]
    guard, now = ctx.dispatch.guard(connection), ctx.clock()
    pending = record.result.delivery.model_copy(
        update={"state": DeliveryState.PENDING, "next_attempt_at": now, "updated_at": now}
    )
    if await guard.reserve(ctx.dispatch.policy.mutation_deadline_seconds / 2, force=True):
        claim = ctx.dispatch.claim(now, [connection])
        claimed = await ctx.store.claim_delivery(record.result.id, claim, RETRIABLE_NOW, pending)
        if claimed is not None:
            return await deliver_within_deadline(ctx, order, claimed)
        guard.unreserve()
    # Another write for the order is in flight, or the cap is reached: the deliverer sends it next.
    if not await ctx.store.set_delivery(record.result.id, pending, RETRIABLE_NOW, now):
        return DeliveryView(order, (await _record(ctx, record.result.id)).result)
    ctx.dispatch.wake()
    await _delivery_changed(ctx, record, order)
    return DeliveryView(order, record.result.model_copy(update={"delivery": pending}))


async def cancel_delivery(ctx: AppContext, result_id: str) -> DeliveryView:
    """Cancel a PENDING or RETRYING delivery that is not being sent right now."""
    record = await _record(ctx, result_id)
    now = ctx.clock()
    cancelled = record.result.delivery.model_copy(
        update={"state": DeliveryState.CANCELLED, "next_attempt_at": None, "updated_at": now}
    )
    if not await ctx.store.set_delivery(result_id, cancelled, WAITING, now):
        current = await _record(ctx, result_id)
        if current.claimed_by is not None:
            raise ResultConflictError("The result is being sent right now; it cannot be cancelled.", field="resultId")
        state = current.result.delivery.state.value
        raise ResultConflictError(
            f"The delivery is {state}; only PENDING or RETRYING deliveries can be cancelled.", field="resultId"
        )
    order = await _order_of(ctx, record)
    await _delivery_changed(ctx, record, order)
    return DeliveryView(order, record.result.model_copy(update={"delivery": cancelled}))


async def list_deliveries(
    ctx: AppContext,
    states: tuple[DeliveryState, ...],
    connection_ids: tuple[str, ...],
    *,
    first: int,
    after: str | None,
) -> DeliveryPage:
    """Only the connections the caller may see (all of them when `connection_ids` is empty)."""
    if not 0 <= first <= 100:
        raise InvalidInputError("first must be between 0 and 100.", field="first")
    visible = tuple(c for c in connection_ids or tuple(ctx.connections) if c in ctx.connections)
    if not visible:
        return DeliveryPage(records=[], cursors=[], has_next_page=False, total_count=0)
    return await ctx.store.list_deliveries(states, visible, first=first, after=after, now=ctx.clock())


async def deliver_due(ctx: AppContext) -> int:
    """Claim what is due on every connection with free slots and start sending it; how many.

    Slots are counted, not held, while claiming (a mutation may take one meanwhile); an attempt
    that then finds no slot waits for one, and gives its claim back if none frees up in time."""
    dispatch, now = ctx.dispatch, ctx.clock()
    connections = [c for c in ctx.connections.values() if c.id in ctx.adapters]
    slots = {c.id: min(dispatch.guard(c).free_slots(), dispatch.policy.batch_size) for c in connections}
    if not any(slots.values()):
        return 0
    records = await ctx.store.claim_due(dispatch.claim(now, connections), slots, dispatch.policy.batch_size)
    for record in records:
        dispatch.spawn(_attempt_claimed(ctx, record))
    return len(records)


async def _attempt_claimed(ctx: AppContext, record: DeliveryRecord) -> Attempted | None:
    connection = ctx.connections[record.ref.connection_id]
    guard = ctx.dispatch.guard(connection)
    policy = ctx.dispatch.policy  # the wait eats into the claim's margin: stay well inside it
    if not await guard.reserve(min(policy.mutation_deadline_seconds, policy.lease_margin_seconds / 2)):
        holder = ctx.dispatch.instance_id
        await ctx.store.finish_attempt(record.ref, record.result.id, record.result.delivery, None, holder)
        return None
    return await attempt(ctx, record)
