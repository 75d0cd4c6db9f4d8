"""One delivery attempt under a fenced claim: reconcile an unconfirmed write, send, keep the lease
alive while the call runs, store the outcome.

The attempt holds the order's lease with a fencing token. Just before the request leaves, the
store checks the lease is still ours, extends it to cover the whole-call timeout plus the margin,
flags a request out and counts the send; a renewal task keeps extending it while the call runs.
An outcome we could not see (timeout, connection dropped after sending, shutdown mid-call) makes
the delivery UNCONFIRMED and fences the order for the connection's quarantine. A store error is
an outage: the delivery stays due (RETRYING) and nothing is marked FAILED for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar, runtime_checkable

from providers.errors import (
    DomainError,
    ErrorCode,
    OrderNotFoundError,
    ProviderRejectedInputError,
    ResultConflictError,
    ServiceUnavailableError,
)
from providers.guard import HeldBack, limits_for
from providers.models import AssessmentOrder, Delivery, DeliveryState
from providers.protocol import PreparedWrite, WriteOutcome
from resolvers.context import AppContext
from resolvers.live import delivery_changed, order_events
from resolvers.merge import merge_delivered
from resolvers.tracing import attempt_span
from store.decode import readable
from store.interface import DeliveryRecord, OrderEvent, OrderEventKind
from store.outage import is_outage

log = logging.getLogger("gateway.delivery")
T = TypeVar("T")


@runtime_checkable
class Readable(Protocol):
    """An adapter that can read an order back from the provider (Kombo)."""

    async def read_order(self, order: AssessmentOrder) -> AssessmentOrder | None: ...


@dataclass(frozen=True)
class Attempted:
    delivery: Delivery
    order: AssessmentOrder | None  # the merged order when delivered
    error: BaseException | None = None
    announced: bool = False  # its DELIVERY_CHANGED event was appended with the outcome


def prepared_of(record: DeliveryRecord) -> PreparedWrite:
    if record.prepared is not None:
        return PreparedWrite.model_validate(record.prepared)
    return PreparedWrite(body=record.request_body)  # recorded before migration 0004


async def attempt(
    ctx: AppContext, record: DeliveryRecord, order: AssessmentOrder | None = None, prepared: PreparedWrite | None = None
) -> Attempted:
    """Send a claimed delivery once, in the slot reserved for it, and store the outcome; then wake
    the deliverer when a result may wait (a slot and the order are free: it may be due). The attempt
    is one span, linked to the request that recorded the result. `order`: the stored order when the
    caller has just read it (else it is read); `prepared`: the write the caller has just prepared, as
    recorded (else it is decoded from the record)."""
    try:
        with attempt_span(record) as span:
            attempted = await Attempt(ctx, record, order, prepared).run()
            span.set_attribute("gateway.delivery.state", attempted.delivery.state.value)
        state = attempted.delivery.state.value
        ctx.observer.delivery_transition(record.ref.connection_id, record.result.delivery.state.value, state)
        log.info("delivery %s attempt %d: %s", record.result.id, attempted.delivery.attempts, state.lower(),
                 extra={"order_id": record.ref.encode(), "result_id": record.result.id})  # fmt: skip
    finally:
        ctx.dispatch.attempt_ended()
    if attempted.announced:  # DELIVERY_CHANGED was committed with the outcome
        if ctx.events is not None:
            ctx.events.appended()
    else:
        await delivery_changed(ctx.store, ctx.events, record.ref, attempted.order)
    return attempted


class Attempt:
    def __init__(
        self, ctx: AppContext, record: DeliveryRecord, order: AssessmentOrder | None = None,
        prepared: PreparedWrite | None = None,
    ) -> None:  # fmt: skip
        self.ctx, self.record, self.known_order = ctx, record, order
        self.connection = ctx.connections[record.ref.connection_id]
        self.limits = limits_for(self.connection)
        self.guard = ctx.dispatch.guard(self.connection)
        self.holder = ctx.dispatch.instance_id
        self.token = record.token
        self.attempts = record.result.delivery.attempts + 1
        self.sends = record.result.delivery.sends
        self.prepared = prepared if prepared is not None else prepared_of(record)
        self.sent = False  # the send is counted (begin_send)
        self.left = False  # the guard admitted the request: it is on its way to the provider
        self.superseded: Delivery | None = None  # a newer result was recorded before this one was sent
        self.slot_held = True  # the slot reserved for this attempt, until the call takes it over

    async def run(self) -> Attempted:
        try:
            return await self._run()
        except Exception as exc:
            if _is_store_error(exc):
                return await self._outage(exc)
            log.exception("delivery %s attempt %d failed unexpectedly", self.record.result.id, self.attempts)
            return await self._bug(exc)
        finally:
            if self.slot_held:
                self.guard.unreserve()

    async def _run(self) -> Attempted:
        try:
            order = await self._order()
            if self.record.result.delivery.state is DeliveryState.UNCONFIRMED:
                reconciled = await self._reconcile(order)
                if reconciled is not None:
                    return reconciled
            if not await self._begin_send():
                return Attempted(self.superseded or self.record.result.delivery, None)
        except DomainError as error:
            if isinstance(error, ServiceUnavailableError):
                raise
            return await self._failed(error)
        return await self._send(order)

    async def _order(self) -> AssessmentOrder:
        if self.known_order is not None:
            return self.known_order
        order = readable((await self.ctx.store.get_orders([self.record.ref])).get(self.record.ref))
        if order is None:
            raise OrderNotFoundError("No such assessment order.")
        return order

    async def _begin_send(self) -> bool:
        if self.record.begun:  # recorded with its send begun (lease flagged, send counted)
            self.sent = True
            return True
        if self.token is None:  # a record claimed without a token (not expected): send unfenced
            self.sent, self.sends = True, self.sends + 1
            return True
        ref, result_id = self.record.ref, self.record.result.id
        counted = await self.ctx.store.begin_send(
            ref, result_id, self.holder, self.token, self._lease_end(), now=self.ctx.clock()
        )
        if counted is None:
            log.warning("delivery %s: the lease was lost before sending; nothing sent", result_id)
            return False
        if counted.state is DeliveryState.SUPERSEDED:
            log.info("delivery %s: a newer result was recorded before sending; nothing sent", result_id)
            self.superseded = counted
            return False
        self.sent, self.sends = True, counted.sends
        return True

    def _lease_end(self) -> datetime:
        return self.ctx.clock() + timedelta(seconds=self.limits.call + self.ctx.dispatch.policy.lease_margin_seconds)

    async def _send(self, order: AssessmentOrder) -> Attempted:
        adapter = self.ctx.adapter_for(self.record.ref)
        renewal = _Renewal(self._renew, max(0.05, self.ctx.dispatch.policy.lease_margin_seconds / 3), self.token)
        self.slot_held = False  # run() releases it
        try:
            outcome = await self.guard.run(lambda: self._leave(adapter.send_result(order, self.prepared)))
        except asyncio.CancelledError:  # shutdown past the grace period: the request may be out
            with contextlib.suppress(Exception):
                if self.left:
                    await self._unconfirmed(None, "The service stopped while the write was in flight.")
                else:  # still waiting to be admitted: nothing left, due again at once
                    self.sent, self.sends = False, self.sends - 1
                    await self._finish(self._base(DeliveryState.RETRYING, next_attempt_at=self.ctx.clock()), None)
            raise
        except HeldBack as error:  # a 429 pause or the slow start held it back: nothing left
            self.sent, self.sends = False, self.sends - 1
            return await self._failed(error)
        except (ResultConflictError, ProviderRejectedInputError) as error:
            reconciled = await self._reconcile_refusal(order, error)
            return reconciled or await self._failed(error)
        except DomainError as error:
            if error.ambiguous:
                return await self._unconfirmed(error, error.message)
            return await self._failed(error)
        finally:
            renewal.cancel()
        return await self._delivered(order, outcome)

    async def _leave(self, call: Awaitable[T]) -> T:
        """The request leaves now (the guard admitted it)."""
        self.left = True
        return await call

    async def _renew(self, interval: float) -> None:
        """Keep the lease covering the call (plus the margin) while it runs: now, then every `interval`."""
        assert self.token is not None
        while True:
            try:
                ok = await self.ctx.store.renew_lease(self.record.ref, self.holder, self.token, self._lease_end())
            except Exception:  # noqa: BLE001 - the store is out: the lease still covers the call
                log.warning("delivery %s: lease renewal failed", self.record.result.id, exc_info=True)
                ok = True
            if not ok:
                log.warning("delivery %s: the lease was lost while the call ran", self.record.result.id)
                return
            await asyncio.sleep(interval)

    # ------------------------------------------------------------------- reconcile (Kombo)

    async def _read_status(self, order: AssessmentOrder) -> str | None:
        """The provider's status of the order read back, or None when it cannot be read (not Kombo)."""
        adapter = self.ctx.adapter_for(self.record.ref)
        if not isinstance(adapter, Readable) or self.prepared.provider_status is None:
            return None
        remote = await self.guard.bounded(adapter.read_order(order))
        return None if remote is None else remote.provider_status or "OPEN"

    async def _reconcile(self, order: AssessmentOrder) -> Attempted | None:
        """An unconfirmed write to a provider that can be read: DELIVERED when the provider already
        holds our status, None when it must be sent (again)."""
        status = await self._read_status(order)
        if status in (None, "OPEN") or status != self.prepared.provider_status:
            return None  # not applied (send it), or someone else moved it (sending tells: a refusal)
        return await self._reconciled(order)

    async def _reconciled(self, order: AssessmentOrder) -> Attempted:
        log.info("delivery %s: reconciled, the provider already holds it", self.record.result.id)
        outcome = WriteOutcome(status_code=200, message="Reconciled: the provider already held this result.")
        return await self._delivered(order, outcome, reconciled=True)

    async def _reconcile_refusal(self, order: AssessmentOrder, error: DomainError) -> Attempted | None:
        """A refusal right after an unconfirmed attempt (Kombo's "not OPEN", `PLATFORM.INPUT_INVALID`)
        is most likely our own earlier write having landed: read the order back. Our status there:
        DELIVERED (reconciled). Still OPEN although the refusal says otherwise (Kombo's reads lag its
        writes until it syncs) or unreadable: UNCONFIRMED again, read back after the quarantine, never
        FAILED for it. Another status (someone else moved it): None, the refusal stands."""
        if self.record.result.delivery.state is not DeliveryState.UNCONFIRMED:
            return None
        try:
            status = await self._read_status(order)
        except DomainError:
            return await self._unconfirmed(error, "The provider refused; reading it back failed.")
        if status is None:
            return None
        if status == self.prepared.provider_status:
            return await self._reconciled(order)
        if status == "OPEN":
            return await self._unconfirmed(error, "The provider refused as if our earlier write had landed; "
                                           "reading it back does not show it yet.")  # fmt: skip
        return None

    # ------------------------------------------------------------------- outcomes

    def _base(self, state: DeliveryState, **changes: object) -> Delivery:
        return Delivery(
            state=state, attempts=self.attempts, sends=self.sends, updated_at=self.ctx.clock(), **changes  # type: ignore[arg-type]
        )

    async def _delivered(self, order: AssessmentOrder, outcome: WriteOutcome, *, reconciled: bool = False) -> Attempted:
        done = self.ctx.clock()
        delivered = self._base(
            DeliveryState.DELIVERED, provider_status_code=outcome.status_code, provider_message=outcome.message,
            provider_warnings=outcome.provider_warnings, reconciled=reconciled,
        )  # fmt: skip
        merged = merge_delivered(order, self.record.result.update, self.prepared, outcome, done)
        changed = order_events(self.ctx.events, OrderEventKind.DELIVERY_CHANGED, [merged], done)
        stored = await self._finish(delivered, merged, changed)
        # The store hands back the very delivery given when it stored it (with the events); a lost
        # lease gives the stored one instead, and nothing of this attempt was written.
        return Attempted(stored, merged if stored.state is DeliveryState.DELIVERED else None,
                         announced=stored is delivered and bool(changed))  # fmt: skip

    async def _failed(self, error: DomainError) -> Attempted:
        now = self.ctx.clock()
        failed = self._base(
            DeliveryState.FAILED, provider_status_code=error.status, error_code=error.code.value,
            error_message=error.message,
        )  # fmt: skip
        if error.retryable:
            # held back by our own guard (nothing sent): due when the pause ends, no growing backoff
            attempts = 1 if isinstance(error, HeldBack) else self.attempts
            wait = self.ctx.dispatch.backoff(attempts, getattr(error, "retry_after", None))
            failed = failed.model_copy(update={"state": DeliveryState.RETRYING, "next_attempt_at": now + wait})
        stored = await self._finish(failed, None)
        log.info("delivery %s attempt %d: %s (%s)", self.record.result.id, self.attempts, error.code.value, stored.state.value)
        return Attempted(stored, None, error)

    async def _unconfirmed(self, error: DomainError | None, message: str) -> Attempted:
        until = self.ctx.clock() + timedelta(seconds=self.limits.quarantine)
        unconfirmed = self._base(
            DeliveryState.UNCONFIRMED, next_attempt_at=until, error_message=message,
            error_code=None if error is None else error.code.value,
            provider_status_code=None if error is None else error.status,
        )  # fmt: skip
        stored = await self._finish(unconfirmed, None, quarantine_until=until)
        log.info("delivery %s attempt %d: outcome unknown, quarantined until %s", self.record.result.id, self.attempts, until)
        return Attempted(stored, None, error)

    async def _outage(self, exc: BaseException) -> Attempted:
        """The store failed: before sending, the delivery stays due (RETRYING); after sending, the
        outcome is unknown (UNCONFIRMED). Still out: the lease expires, and a lease that expires with
        a request out fences the order for its quarantine, so nothing overlaps either way."""
        log.warning("delivery %s: store unavailable during the attempt", self.record.result.id, exc_info=exc)
        error = exc if isinstance(exc, ServiceUnavailableError) else ServiceUnavailableError("The store is unavailable.")
        try:
            if self.sent:
                return await self._unconfirmed(error, "The outcome could not be stored (the store was unavailable).")
            return await self._failed(error)
        except Exception:  # noqa: BLE001 - still out
            return Attempted(self.record.result.delivery, None, error)

    async def _bug(self, exc: Exception) -> Attempted:
        """A programming error: FAILED / INTERNAL_SERVER_ERROR, visible and retried by hand."""
        failed = self._base(DeliveryState.FAILED, error_code=ErrorCode.INTERNAL_SERVER_ERROR.value,
                            error_message="Unexpected error.")  # fmt: skip
        return Attempted(await self._finish(failed, None), None, exc)

    async def _finish(
        self, delivery: Delivery, order: AssessmentOrder | None, events: Sequence[OrderEvent] = (), **kwargs: datetime
    ) -> Delivery:
        """Store the outcome; while the store is out, try again until the lease's margin is used."""
        ref, result_id = self.record.ref, self.record.result.id
        deadline = asyncio.get_running_loop().time() + self.ctx.dispatch.policy.lease_margin_seconds
        while True:
            try:
                return await self.ctx.store.finish_attempt(
                    ref, result_id, delivery, order, self.holder, self.token, events=events, **kwargs
                )
            except Exception as exc:
                if not _is_store_error(exc) or asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.2)


class _Renewal:
    """The lease renewal of a call: a timer until the call has run `interval` (most calls end sooner),
    then a task renewing every `interval` until cancelled. Without a token there is nothing to renew."""

    def __init__(self, renew: Callable[[float], Awaitable[None]], interval: float, token: int | None) -> None:
        self._renew, self._interval = renew, interval
        self._task: asyncio.Task[None] | None = None
        self._timer = None if token is None else asyncio.get_running_loop().call_later(interval, self._start)

    def _start(self) -> None:
        self._timer = None
        self._task = asyncio.ensure_future(self._renew(self._interval))

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None:
            self._task.cancel()


def _is_store_error(exc: BaseException) -> bool:
    return isinstance(exc, ServiceUnavailableError) or is_outage(exc)

