"""Recording orders that arrive from providers: signed webhooks, polled orders, and filling ids-only orders."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from types import ModuleType
from typing import Any

from providers.connections import Connection
from providers.errors import DomainError, ErrorCode, ForeignConnectionError, ProviderBadResponseError
from providers.kombo import webhooks as kombo_webhooks
from providers.models import AssessmentOrder, OrderRef, OrderStatus, ProviderName
from providers.stackone import webhooks as stackone_webhooks
from providers.stackone.client import StackOneProvider
from providers.unified_to import webhooks as unified_to_webhooks
from providers.webhook_body import load_json
from resolvers.context import AppContext
from resolvers.group_commit import GroupCommit
from resolvers.live import emit
from store.interface import EventWrite, OrderEvent, OrderEventKind, OrderFilter, WebhookEvent

log = logging.getLogger("gateway.intake")

# Each module offers verify(connection, headers, raw_body) -> bool,
# parse_event(connection, body, raw_body) -> providers.protocol.ParsedWebhook,
# and refusal(package_id) -> the message of the provider's own refusal, or None when it has none.
WEBHOOKS: Mapping[ProviderName, ModuleType] = {
    ProviderName.KOMBO: kombo_webhooks,
    ProviderName.STACKONE: stackone_webhooks,
    ProviderName.UNIFIED_TO: unified_to_webhooks,
}
_PAGE = 500


class WebhookErrorCode(StrEnum):
    """The `error` of a refused webhook delivery."""

    BAD_SIGNATURE = "BAD_SIGNATURE"
    NOT_FOUND = "NOT_FOUND"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    MALFORMED_BODY = "MALFORMED_BODY"
    ORDER_REJECTED = "ORDER_REJECTED"
    CONNECTION_MISMATCH = ErrorCode.CONNECTION_MISMATCH.value


class WebhookError(Exception):
    """A delivery refused before anything was stored; the message never echoes the body."""

    def __init__(self, code: WebhookErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class IntakeOutcome:
    """What a delivery did: orders written, whether it was a redelivery, and the provider's own
    refusal message when an order's package is not offered (Kombo only; others accept)."""

    orders: int
    duplicate: bool
    rejected: tuple[str, ...] = ()  # provider order ids recorded as REJECTED
    refusal: str | None = None
    order_ids: tuple[str, ...] = ()  # global ids of the orders written (for logs)


# --------------------------------------------------------------------------- webhooks


async def receive_webhook(
    ctx: AppContext, connection_id: str, headers: Mapping[str, str], raw_body: bytes
) -> IntakeOutcome:
    """Verify, parse and record one delivery; ids-only StackOne orders are filled in the background.

    Raises WebhookError (NOT_FOUND, BAD_SIGNATURE, MALFORMED_BODY); then nothing was stored.
    """
    connection = ctx.connections.get(connection_id)
    if connection is None:
        raise WebhookError(WebhookErrorCode.NOT_FOUND, "No such webhook endpoint.")
    module = WEBHOOKS[connection.provider]
    lowered = {key.lower(): value for key, value in headers.items()}
    if not connection.webhook_secret or not _verified(module, connection, lowered, raw_body):
        raise WebhookError(WebhookErrorCode.BAD_SIGNATURE, "Missing or invalid webhook signature.")
    body = _json_object(connection, raw_body)
    try:
        event = module.parse_event(connection, body, raw_body)
    except ProviderBadResponseError as exc:
        raise WebhookError(WebhookErrorCode.MALFORMED_BODY, exc.message) from None
    except ForeignConnectionError as exc:
        raise WebhookError(WebhookErrorCode.CONNECTION_MISMATCH, exc.message) from None
    pending = _Pending(connection, event.event_key, event.event_type, tuple(event.orders), body, ctx.clock())
    written = await _group_commit(ctx).submit(pending)
    if written.fresh:
        _fill_in_background(ctx, [o for o in written.orders if stackone_webhooks.details_pending(o)])
    rejected = written.rejected
    return IntakeOutcome(
        orders=len(written.orders),
        duplicate=not written.fresh,
        rejected=tuple(o.provider_order_id for o in rejected),
        refusal=module.refusal(_package_id(rejected[0])) if rejected else None,
        order_ids=tuple(OrderRef(o.connection_id, o.provider_order_id).encode() for o in written.orders),
    )


@dataclass(frozen=True)
class _Pending:
    """A verified delivery waiting for its group commit."""

    connection: Connection
    event_key: str
    event_type: str
    orders: tuple[AssessmentOrder, ...]
    payload: dict[str, Any]
    received_at: datetime

    def keys(self) -> list[object]:
        return [(self.connection.id, self.event_key), *(_ref(o) for o in self.orders)]


@dataclass(frozen=True)
class _Written:
    fresh: bool
    orders: tuple[AssessmentOrder, ...]
    rejected: tuple[AssessmentOrder, ...]


def _group_commit(ctx: AppContext) -> GroupCommit[_Pending, _Written]:
    if ctx.intake_writes is None:
        ctx.intake_writes = GroupCommit(lambda group: _write_group(ctx, group), _Pending.keys)
    return ctx.intake_writes


async def _write_group(ctx: AppContext, group: Sequence[_Pending]) -> list[_Written]:
    """Record deliveries in one transaction. One read of the stored orders serves both the StackOne
    status rule and the live events (ORDER_RECEIVED for new orders, ORDER_UPDATED for changed ones),
    which are appended in the same transaction, only for deliveries that are not redeliveries."""
    known = await _stored(ctx, [o for pending in group for o in pending.orders])
    now = ctx.clock()
    writes, written = [], []
    for pending in group:
        orders, rejected = _apply_package_list(pending.connection, _keep_known_status(list(pending.orders), known))
        record = WebhookEvent(
            connection_id=pending.connection.id, event_key=pending.event_key, event_type=pending.event_type,
            order_ids=tuple(o.provider_order_id for o in orders), received_at=pending.received_at,
            payload=pending.payload,
        )  # fmt: skip
        announce = _announcements(orders, known, now) if ctx.events is not None else ()
        writes.append(EventWrite(record, tuple(orders), announce))
        written.append(_Written(False, tuple(orders), tuple(rejected)))
    fresh = await ctx.store.record_events(writes)
    if ctx.events is not None and any(new and w.announce for new, w in zip(fresh, writes, strict=True)):
        ctx.events.appended()
    return [replace(w, fresh=new) for w, new in zip(written, fresh, strict=True)]


async def _stored(ctx: AppContext, orders: Sequence[AssessmentOrder]) -> Mapping[OrderRef, object]:
    """The stored versions of these orders, before they are written: needed for StackOne orders (their
    status) and for live events."""
    if not orders or (ctx.events is None and all(o.provider is not ProviderName.STACKONE for o in orders)):
        return {}
    return await ctx.store.get_orders([_ref(o) for o in orders])


def _ref(order: AssessmentOrder) -> OrderRef:
    return OrderRef(order.connection_id, order.provider_order_id)


def _announcements(
    orders: Sequence[AssessmentOrder], known: Mapping[OrderRef, object], at: datetime
) -> tuple[OrderEvent, ...]:
    """ORDER_RECEIVED for orders new to the record, then ORDER_UPDATED for known orders that changed."""
    received, updated = _kinds(orders, known)
    return tuple(_event(kind, o, at) for kind, batch in ((OrderEventKind.ORDER_RECEIVED, received),
                                                          (OrderEventKind.ORDER_UPDATED, updated)) for o in batch)  # fmt: skip


def _event(kind: OrderEventKind, order: AssessmentOrder, at: datetime) -> OrderEvent:
    return OrderEvent(kind=kind, order_id=order.global_id, connection_id=order.connection_id,
                      provider=order.provider, status=order.status, at=at)  # fmt: skip


async def _announce(
    ctx: AppContext, orders: Sequence[AssessmentOrder], known: Mapping[OrderRef, object]
) -> None:
    """ORDER_RECEIVED for orders new to the record, ORDER_UPDATED for known orders that changed."""
    received, updated = _kinds(orders, known)
    now = ctx.clock()
    await emit(ctx.store, ctx.events, OrderEventKind.ORDER_RECEIVED, received, now)
    await emit(ctx.store, ctx.events, OrderEventKind.ORDER_UPDATED, updated, now)


def _kinds(
    orders: Sequence[AssessmentOrder], known: Mapping[OrderRef, object]
) -> tuple[list[AssessmentOrder], list[AssessmentOrder]]:
    """(new to the record, known and changed by this write); an unreadable stored one counts as changed."""
    received, updated = [], []
    for order in orders:
        before = known.get(_ref(order))
        if before is None:
            received.append(order)
        elif not isinstance(before, AssessmentOrder) or _changed(before, order):
            updated.append(order)
    return received, updated


def _changed(before: AssessmentOrder, after: AssessmentOrder) -> bool:
    """Whether writing `after` changes the record (fields it leaves unset keep the stored value)."""
    new = after.model_dump(mode="json", exclude_none=True)
    old = before.model_dump(mode="json")
    return any(old.get(key) != value for key, value in new.items())


def _verified(module: ModuleType, connection: Connection, headers: Mapping[str, str], raw_body: bytes) -> bool:
    try:
        return bool(module.verify(connection, headers, raw_body))
    except ProviderBadResponseError as exc:  # the signature lives in a body that is not JSON
        raise WebhookError(WebhookErrorCode.MALFORMED_BODY, exc.message) from None


def _json_object(connection: Connection, raw_body: bytes) -> dict[str, Any]:
    try:
        body = load_json(raw_body, connection.provider)
    except ProviderBadResponseError as exc:
        raise WebhookError(WebhookErrorCode.MALFORMED_BODY, exc.message) from None
    if not isinstance(body, dict):
        raise WebhookError(WebhookErrorCode.MALFORMED_BODY, "The body is not a JSON object.")
    return body


def _keep_known_status(orders: list[AssessmentOrder], known: Mapping[OrderRef, object]) -> list[AssessmentOrder]:
    """StackOne orders carry no status: an order already on record keeps the status it has (from the
    results written for it); its other content is updated. Other providers' events are ordered by
    the store (record_events: by `updated_at`, else the status never changes)."""
    kept = []
    for order in orders:
        stored = known.get(_ref(order))
        if isinstance(stored, AssessmentOrder) and order.provider is ProviderName.STACKONE:  # else new or unreadable
            order = order.model_copy(update={"status": stored.status, "provider_status": stored.provider_status})
        kept.append(order)
    return kept


def _apply_package_list(
    connection: Connection, orders: list[AssessmentOrder]
) -> tuple[list[AssessmentOrder], list[AssessmentOrder]]:
    """Orders for a package the connection does not offer are recorded as REJECTED."""
    if connection.package_ids is None:
        return orders, []
    offered, result, rejected = set(connection.package_ids), [], []
    for order in orders:
        if _package_id(order) not in offered:
            order = order.model_copy(update={"status": OrderStatus.REJECTED})
            rejected.append(order)
        result.append(order)
    return result, rejected


def _package_id(order: AssessmentOrder) -> str:
    return order.package.id if order.package is not None else ""


# --------------------------------------------------------------------------- StackOne details

# Background detail fetches by the context they serve; each task removes itself when done.
_TASKS: dict[asyncio.Task[int], AppContext] = {}


def _fill_in_background(ctx: AppContext, orders: list[AssessmentOrder]) -> None:
    if not orders:
        return
    task = asyncio.create_task(_fill_orders(ctx, orders), name="stackone-order-details")
    _TASKS[task] = ctx
    task.add_done_callback(_forget)


def _forget(task: asyncio.Task[int]) -> None:
    _TASKS.pop(task, None)
    if not task.cancelled() and task.exception() is not None:
        log.error("filling order details failed", exc_info=task.exception())


async def settle_background(ctx: AppContext, *, cancel: bool = False) -> None:
    """Wait for (or cancel) the context's detail fetches still running; for shutdown and tests."""
    tasks = [task for task, owner in list(_TASKS.items()) if owner is ctx]
    for task in tasks if cancel else ():
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def fill_pending_details(ctx: AppContext) -> int:
    """Re-fetch the details of every StackOne order still marked incomplete; returns how many
    were filled. Failures are logged and left marked for the next run."""
    return await _fill_orders(ctx, await _pending_orders(ctx))


async def _pending_orders(ctx: AppContext) -> list[AssessmentOrder]:
    query = OrderFilter(providers=(ProviderName.STACKONE,))
    pending: list[AssessmentOrder] = []
    after: str | None = None
    while True:
        page = await ctx.store.list_orders(query, first=_PAGE, after=after)
        pending += [o for o in page.orders if isinstance(o, AssessmentOrder) and stackone_webhooks.details_pending(o)]
        if not page.has_next_page or not page.cursors:
            return pending
        after = page.cursors[-1]


async def _fill_orders(ctx: AppContext, orders: Sequence[AssessmentOrder]) -> int:
    filled = 0
    for order in orders:
        filled += await _fill_one(ctx, order)
    return filled


async def _fill_one(ctx: AppContext, order: AssessmentOrder) -> bool:
    adapter = ctx.adapters.get(order.connection_id)
    if not isinstance(adapter, StackOneProvider):
        return False
    try:
        details = await adapter.fetch_order_details(order)
    except DomainError as exc:
        log.warning("order details not fetched (%s); kept for a later run", exc.code.value)
        return False
    ref = OrderRef(order.connection_id, order.provider_order_id)
    current = (await ctx.store.get_orders([ref])).get(ref)
    if not isinstance(current, AssessmentOrder) or current.raw != order.raw:
        return False  # changed meanwhile: a newer delivery wins, a later run fills it if needed
    filled = details.model_copy(update={"status": current.status, "provider_status": current.provider_status})
    await ctx.store.upsert_order(filled)
    await emit(ctx.store, ctx.events, OrderEventKind.ORDER_UPDATED, [filled], ctx.clock())
    return True


# --------------------------------------------------------------------------- polled orders


async def record_received_orders(ctx: AppContext, orders: Sequence[AssessmentOrder]) -> int:
    """Store orders read from a provider (its version replaces the record); how many were written."""
    known = await _stored(ctx, orders)
    for order in orders:
        await ctx.store.upsert_order(order)
    await _announce(ctx, orders, known)
    return len(orders)
