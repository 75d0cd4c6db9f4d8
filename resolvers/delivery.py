"""Delivering recorded results: retry-now, cancel, the due queue (one attempt: resolvers/attempt.py).

Every attempt runs under a fenced claim (the order's lease, store/leases.py), so no two writes for
one order are ever in flight at once, on any instance. A retryable failure (`DomainError.retryable`:
5xx, 429/408, refused connections, malformed answers, the store unavailable) leaves the delivery
RETRYING with its next attempt time; an outcome that could not be seen is UNCONFIRMED and
quarantined; any other refusal is FAILED and waits for a person (`retryDelivery`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from providers.bounds import MAX_PAGE
from providers.errors import InvalidInputError, OrderNotFoundError, ResultConflictError
from providers.models import AssessmentOrder, AssessmentResult, DeliveryState
from providers.protocol import PreparedWrite
from resolvers.attempt import Attempted, attempt, prepared_of
from resolvers.context import AppContext
from resolvers.live import delivery_changed
from store.decode import readable
from store.interface import DeliveryPage, DeliveryRecord

log = logging.getLogger("gateway.delivery")
__all__ = ["Attempted", "DeliveryView", "attempt", "prepared_of"]

WAITING = (DeliveryState.PENDING, DeliveryState.RETRYING, DeliveryState.UNCONFIRMED)
RETRIABLE_NOW = (DeliveryState.FAILED, DeliveryState.RETRYING)


@dataclass(frozen=True)
class DeliveryView:
    """A result with its order, as the mutations and the deliveries list return it."""

    order: AssessmentOrder
    result: AssessmentResult


async def deliver_within_deadline(
    ctx: AppContext, order: AssessmentOrder, record: DeliveryRecord, prepared: PreparedWrite | None = None
) -> DeliveryView:
    """Attempt a claimed delivery and wait for it up to the mutation deadline. A permanent refusal is
    raised (the result stays FAILED); past the deadline the attempt goes on and PENDING is returned.
    `prepared`: the write as recorded, when the caller has it (else decoded from the record)."""
    task = ctx.dispatch.spawn(attempt(ctx, record, order, prepared))
    done, _ = await asyncio.wait({task}, timeout=ctx.dispatch.policy.mutation_deadline_seconds)
    if not done:
        return DeliveryView(order, record.result)
    attempted: Attempted = task.result()
    if attempted.delivery.state is DeliveryState.FAILED and attempted.error is not None:
        raise attempted.error
    return DeliveryView(attempted.order or order, record.result.model_copy(update={"delivery": attempted.delivery}))


async def _order_of(ctx: AppContext, record: DeliveryRecord) -> AssessmentOrder:
    order = readable((await ctx.store.get_orders([record.ref])).get(record.ref))
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
            _moved(ctx, record, DeliveryState.PENDING)
            return await deliver_within_deadline(ctx, order, claimed)
        guard.unreserve()
    # Another write for the order is in flight, or the cap is reached: the deliverer sends it next.
    if not await ctx.store.set_delivery(record.result.id, pending, RETRIABLE_NOW, now):
        return DeliveryView(order, (await _record(ctx, record.result.id)).result)
    _moved(ctx, record, DeliveryState.PENDING)
    ctx.dispatch.queued()
    await delivery_changed(ctx.store, ctx.events, record.ref, order)
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
    _moved(ctx, record, DeliveryState.CANCELLED)
    order = await _order_of(ctx, record)
    await delivery_changed(ctx.store, ctx.events, record.ref, order)
    return DeliveryView(order, record.result.model_copy(update={"delivery": cancelled}))


def _moved(ctx: AppContext, record: DeliveryRecord, to: DeliveryState) -> None:
    ctx.observer.delivery_transition(record.ref.connection_id, record.result.delivery.state.value, to.value)


async def list_deliveries(
    ctx: AppContext,
    states: tuple[DeliveryState, ...],
    connection_ids: tuple[str, ...],
    *,
    first: int,
    after: str | None,
) -> DeliveryPage:
    """Only the connections the caller may see (all of them when `connection_ids` is empty)."""
    if not 0 <= first <= MAX_PAGE:
        raise InvalidInputError(f"first must be between 0 and {MAX_PAGE}.", field="first")
    visible = tuple(c for c in connection_ids or tuple(ctx.connections) if c in ctx.connections)
    if not visible:
        return DeliveryPage(records=[], cursors=[], has_next_page=False, total_count=0)
    return await ctx.store.list_deliveries(states, visible, first=first, after=after, now=ctx.clock())


async def deliver_due(ctx: AppContext) -> int:
    """Claim what is due on every connection with free slots and start sending it; how many.

    Slots are counted, not held, while claiming (a mutation may take one meanwhile); an attempt
    that then finds no slot waits for one, and gives its claim back if none frees up in time."""
    dispatch, now = ctx.dispatch, ctx.clock()
    if dispatch.idle():  # this pass sees whatever is due that no other instance holds
        dispatch.waiting = False
    connections = [c for c in ctx.connections.values() if c.id in ctx.adapters]
    slots = {c.id: min(dispatch.guard(c).free_slots(), dispatch.policy.batch_size) for c in connections}
    if not all(slots.values()):  # a connection without a free slot is not looked at: it may have some due
        dispatch.waiting = True
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
        ctx.dispatch.waiting = True  # given back for want of a slot: due again when one frees up
        holder = ctx.dispatch.instance_id
        delivery = record.result.delivery
        await ctx.store.finish_attempt(record.ref, record.result.id, delivery, None, holder, record.token)
        return None
    return await attempt(ctx, record)
