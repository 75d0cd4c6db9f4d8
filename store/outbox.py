"""The delivery outbox on the SQL store: record, claim with a lease, finish, cancel, list.

Claims are two-fold: a lease row per order (`delivery_leases`, primary key = order id) makes one
holder the only sender for the order, whichever result it sends; the claim columns on the result
row make cancel and supersede see, on the same row, that it is in flight. On PostgreSQL due rows are
picked `FOR UPDATE SKIP LOCKED`, so instances claim disjoint work; a lease that is not renewed
(a crashed instance) expires at `lease_until` and the order can be claimed again. SQLite has one
instance: its multi-statement transactions are serialised by an in-process lock.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, Row, and_, bindparam, case, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from providers.errors import ErrorCode, InvalidInputError, OrderNotFoundError, StoredRecordUnreadableError
from providers.models import AssessmentOrder, AssessmentResult, Delivery, DeliveryState, OrderRef
from store.cursors import decode_cursor, encode_cursor
from store.decode import ResultDecodeCache, read_result
from store.driver_sql import prebuilt
from store.interface import DeliveryClaim, DeliveryPage, DeliveryRecord, IdempotencyKeyTaken, OrderEvent
from store.leases import (
    FREE,
    HAS_NEWER,
    IS_ACTIVE,
    LeaseStore,
    claimed_stmt,
    delivery_row,
    release_held_stmt,
    result_row_stmt,
    superseded,
    unclaimed,
)
from store.tables import delivery_leases, orders, results

_CURSOR_KEY = "delivery"
log = logging.getLogger("gateway.delivery")


_RECORD_COLUMNS = (
    results.c.seq, results.c.id, results.c.order_id, results.c.data, results.c.delivery, results.c.prepared,
    results.c.request_body, results.c.claimed_by, results.c.claim_until,
)  # fmt: skip

# Statements of the hot paths, built once and run with parameters (see `Transactions._built`).
_INSERT_RESULT = prebuilt(insert(results))
_BY_ID = prebuilt(select(*_RECORD_COLUMNS, HAS_NEWER.label("newer")).where(results.c.id == bindparam("b_result_id")))
_BY_KEY = prebuilt(select(*_RECORD_COLUMNS, HAS_NEWER.label("newer")).where(
    results.c.order_id == bindparam("b_oid"), results.c.idempotency_key == bindparam("b_key")
))
_CLAIMED_RECORDS = select(*_RECORD_COLUMNS).where(results.c.id.in_(bindparam("b_ids", expanding=True)))


@functools.cache
def _due_builder(connections: int, *, lock: bool) -> Callable[[str], Any]:
    """The builder of the deliverer's pass over `connections` open connections (one parameter each,
    `b_conn_<i>`: nothing to expand per execution); `lock`: the rows claimed, on PostgreSQL FOR UPDATE
    SKIP LOCKED, else a plain look."""

    def build(dialect: str) -> Any:
        return _due_stmt(dialect, connections, lock=lock)

    return build


def _due_stmt(dialect: str, connections: int, *, lock: bool) -> Any:
    """The deliverer's pass: due results of open connections, oldest first, with whether each is its
    order's newest; orders fenced by a lease are skipped."""
    now = bindparam("b_now", type_=results.c.claim_until.type)
    open_connections = [bindparam(f"b_conn_{i}") for i in range(connections)]
    fenced = exists().where(delivery_leases.c.order_id == results.c.order_id, delivery_leases.c.lease_until > now)
    stmt = (
        select(results.c.seq, results.c.id, results.c.order_id, results.c.connection_id, (~HAS_NEWER).label("newest"))
        .where(
            IS_ACTIVE, results.c.delivery_next_attempt_at <= now,
            unclaimed(now), results.c.connection_id.in_(open_connections), ~fenced,
        )
        .order_by(results.c.delivery_next_attempt_at, results.c.seq)
        .limit(bindparam("b_limit"))
    )  # fmt: skip
    return stmt.with_for_update(skip_locked=True, of=results) if lock and dialect == "postgresql" else stmt


def _finish_stmt(_dialect: str) -> Any:
    """Store an outcome on the result (SET also the columns the parameters name); the claim is
    dropped only when it is `b_holder`'s."""
    mine = results.c.claimed_by == bindparam("b_holder")
    return update(results).where(results.c.id == bindparam("b_result_id"), results.c.order_id == bindparam("b_oid")).values(
        claimed_by=case((mine, None), else_=results.c.claimed_by),
        claim_until=case((mine, None), else_=results.c.claim_until),
    )  # fmt: skip


class _Stale(Exception):
    """Rolls back the outcome of an attempt whose lease was lost."""


class OutboxStore(LeaseStore):
    """Mixed into `SqlStore`."""

    async def _upsert_in(self, conn: AsyncConnection, order: AssessmentOrder, *, newer_only: bool = False) -> None:
        raise NotImplementedError

    async def _merge_in(self, conn: AsyncConnection, order: AssessmentOrder) -> None:
        raise NotImplementedError

    decoded_results: ResultDecodeCache  # store/sql.py

    # store/events.py: append live events within a write transaction
    _append_in: Callable[[AsyncConnection, Sequence[OrderEvent]], Awaitable[list[int]]]
    append_after_change: Callable[[Sequence[OrderEvent]], Awaitable[bool]]

    # ----------------------------------------------------------------------- record

    async def record_delivery(
        self,
        ref: OrderRef,
        result: AssessmentResult,
        request_body: dict[str, Any],
        prepared: dict[str, Any],
        claim: DeliveryClaim | None,
        events: Sequence[OrderEvent] = (),
        *,
        begin_send: bool = False,
        durable: bool = True,
    ) -> int | None:
        oid = ref.encode()
        counted = result.delivery.send_counted() if begin_send else None
        # SQLite, one writer: the row is inserted as the lease will leave it (claimed, its send counted),
        # which spares an UPDATE of it; it is put back below when the lease is not taken.
        claimed = self.engine.dialect.name == "sqlite" and claim is not None and counted is not None
        values = {
            "id": result.id, "order_id": oid, "connection_id": ref.connection_id,
            "created_at": result.submitted_at, "idempotency_key": result.update.idempotency_key,
            "request_body": json.dumps(request_body), "prepared": json.dumps(prepared),
            "data": (data := result.model_dump_json(exclude={"delivery"})),
            **delivery_row(counted if claimed and counted is not None else result.delivery),
        }  # fmt: skip
        if claimed and claim is not None:
            values.update(claimed_by=claim.holder, claim_until=claim.lease_until)
        self.decoded_results.keep(oid, data, result)
        try:
            async with self._tx(durable=durable) as conn:
                sqlite = conn.dialect.name == "sqlite"
                await conn.execute(_INSERT_RESULT, values)
                replaced = await self._supersede(conn, oid, result.id, result.submitted_at)
                token = None if claim is None else await self._lease(
                    conn, oid, result.id, claim, superseded=True, counted=counted, fresh=sqlite, claimed=claimed
                )
                if claimed and token is None:
                    put_back = {"b_result_id": result.id, "b_holder": None, "b_until": None, **delivery_row(result.delivery)}
                    await conn.execute(self._built(claimed_stmt), put_back)  # as given: not claimed
                if sqlite:  # one writer: the events cost no wait inside it
                    await self._append_in(conn, events)
                    events = ()
            if not durable and (replaced or token is None or not begin_send):
                # Only a result whose request leaves now may wait for the disk (the caller syncs before
                # any answer but "delivered"). One that replaced older waiting results is on disk before
                # it is sent: a power loss must never bring an older result back after a newer one.
                await self.on_disk()
        except IntegrityError:
            key = result.update.idempotency_key
            if key is not None and await self.find_by_idempotency_key(ref, key) is not None:
                raise IdempotencyKeyTaken(key) from None
            if not await self._order_exists(oid):
                raise OrderNotFoundError("No such assessment order.") from None
            raise
        # PostgreSQL: after the commit, as before. Inside, the record would wait for the log's append
        # lock while the older result's attempt finishes, widening the window in which neither sees the
        # other (the open "older result applied after a newer one" defect).
        await self.append_after_change(events)
        return token

    async def _order_exists(self, oid: str) -> bool:
        async with self._read() as conn:
            return (await conn.execute(select(orders.c.id).where(orders.c.id == oid))).first() is not None

    # ----------------------------------------------------------------------- read

    async def find_by_idempotency_key(self, ref: OrderRef, key: str) -> DeliveryRecord | None:
        return await self._one_record(_BY_KEY, {"b_oid": ref.encode(), "b_key": key}, None)

    async def get_delivery(self, result_id: str, now: datetime) -> DeliveryRecord | None:
        return await self._one_record(_BY_ID, {"b_result_id": result_id}, now)

    async def _one_record(self, stmt: Any, params: dict[str, Any], now: datetime | None) -> DeliveryRecord | None:
        """One result, with whether a newer one of its order exists, in one statement."""
        async with self._read() as conn:
            row = (await conn.execute(stmt, params)).first()
        return None if row is None else _record(row, now, newest=not row.newer)

    async def list_deliveries(
        self,
        states: Sequence[DeliveryState],
        connection_ids: Sequence[str],
        *,
        first: int,
        after: str | None,
        now: datetime,
    ) -> DeliveryPage:
        if first < 0:
            raise InvalidInputError("first must not be negative.", field="first")
        where: list[ColumnElement[bool]] = []
        if states:
            where.append(results.c.delivery_state.in_([s.value for s in states]))
        if connection_ids:
            where.append(results.c.connection_id.in_(list(connection_ids)))
        bound = [_after(after)] if after is not None else []
        order = (results.c.created_at, results.c.id)
        page = select(*_RECORD_COLUMNS, results.c.created_at).where(*where, *bound).order_by(*order).limit(first + 1)
        async with self.engine.connect() as conn:  # a count over every match: not on the loop's thread
            rows = (await conn.execute(page)).all()
            total = int((await conn.execute(select(func.count()).select_from(results).where(*where))).scalar_one())
        records = [_record_or_error(row, now) for row in rows[:first]]
        cursors = [encode_cursor(_CURSOR_KEY, row.created_at, row.id) for row in rows[:first]]
        return DeliveryPage(records=records, cursors=cursors, has_next_page=len(rows) > first, total_count=total)

    # ----------------------------------------------------------------------- claim and finish

    async def claim_delivery(
        self, result_id: str, claim: DeliveryClaim, from_states: Sequence[DeliveryState], delivery: Delivery
    ) -> DeliveryRecord | None:
        async with self._tx() as conn:
            stmt = select(results.c.seq, results.c.order_id).where(
                results.c.id == result_id, results.c.delivery_state.in_([s.value for s in from_states]),
                unclaimed(claim.now),
            )  # fmt: skip
            row = (await conn.execute(self._for_update(stmt))).first()
            token = None if row is None else await self._lease(conn, row.order_id, result_id, claim)
            if row is None or token is None:
                return None
            await conn.execute(update(results).where(results.c.seq == row.seq).values(**delivery_row(delivery)))
        record = await self.get_delivery(result_id, claim.now)
        return None if record is None else record.model_copy(update={"token": token})

    async def claim_due(self, claim: DeliveryClaim, slots: Mapping[str, int], limit: int) -> list[DeliveryRecord]:
        open_connections = [c for c, n in slots.items() if n > 0]
        if not open_connections or limit <= 0:
            return []
        left, taken, orders_seen = dict(slots), {}, set()
        params = {"b_now": claim.now, "b_limit": limit * 2, **{f"b_conn_{i}": c for i, c in enumerate(open_connections)}}
        count = len(open_connections)
        async with self._read() as conn:  # the usual pass finds nothing due: then no write transaction at all
            if (await conn.execute(self._built(_due_builder(count, lock=False)), params)).first() is None:
                return []
        async with self._tx() as conn:
            for row in (await conn.execute(self._built(_due_builder(count, lock=True)), params)).all():
                if not row.newest:  # only the newest result of an order is ever sent
                    await self._supersede_result(conn, row.id, claim.now)
                    continue
                if len(taken) >= limit or left[row.connection_id] <= 0 or row.order_id in orders_seen:
                    continue
                orders_seen.add(row.order_id)
                token = await self._lease(conn, row.order_id, row.id, claim)
                if token is not None:
                    taken[row.id] = token
                    left[row.connection_id] -= 1
        if not taken:
            return []
        async with self._read() as conn:
            rows = (await conn.execute(_CLAIMED_RECORDS, {"b_ids": list(taken)})).all()
        records = {}
        for row in rows:
            try:
                records[row.id] = _record(row, claim.now, newest=True).model_copy(update={"token": taken[row.id]})
            except (ValueError, ValidationError, StoredRecordUnreadableError):  # one bad row never fails a pass
                await self._fail_undecodable(row, claim, taken[row.id])
        return [records[result_id] for result_id in taken if result_id in records]

    async def _fail_undecodable(self, row: Row[Any], claim: DeliveryClaim, token: int) -> None:
        log.error("delivery %s: the stored record does not decode; marked FAILED", row.id, exc_info=True)
        failed = Delivery(
            state=DeliveryState.FAILED, error_code=ErrorCode.STORED_RECORD_UNREADABLE.value,
            error_message="The stored result could not be read back.", updated_at=claim.now,
        )  # fmt: skip
        async with self._tx() as conn:
            values = {**delivery_row(failed), "claimed_by": None, "claim_until": None}
            await conn.execute(update(results).where(results.c.seq == row.seq).values(**values))
            await self._release_lease(conn, row.order_id, claim.holder, token, None)

    async def finish_attempt(
        self,
        ref: OrderRef,
        result_id: str,
        delivery: Delivery,
        order: AssessmentOrder | None,
        holder: str,
        token: int | None = None,
        quarantine_until: datetime | None = None,
        events: Sequence[OrderEvent] = (),
    ) -> Delivery:
        try:
            return await self._finish(ref, result_id, delivery, order, holder, token, quarantine_until, events)
        except _Stale:  # a stale holder: its outcome is ignored (and its transaction rolled back)
            log.warning("delivery %s: the lease was lost during the attempt; its outcome is not stored", result_id)
            async with self._read() as conn:
                stored = select(results.c.delivery).where(results.c.id == result_id)
                return Delivery.model_validate_json((await conn.execute(stored)).scalar_one())

    async def _finish(
        self,
        ref: OrderRef,
        result_id: str,
        delivery: Delivery,
        order: AssessmentOrder | None,
        holder: str,
        token: int | None,
        quarantine_until: datetime | None,
        events: Sequence[OrderEvent],
    ) -> Delivery:
        oid = ref.encode()
        # One lock order everywhere: the result row, the order row, then the lease row (SQLite has
        # one writer and no row locks: nothing to take first there). Not durable at COMMIT on a SQLite
        # file: synced by the next durable commit or within `SYNC_WITHIN` (store/sqlite_writes.py); a
        # power loss in that window leaves the lease flagged "request out", so the result comes back
        # UNCONFIRMED.
        async with self._tx(durable=False) as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(self._built(result_row_stmt), {"b_result_id": result_id})
            if order is not None:
                await self._merge_in(conn, order)
            if not await self._release_held(conn, oid, holder, token, quarantine_until):
                raise _Stale
            if delivery.state in (DeliveryState.RETRYING, DeliveryState.UNCONFIRMED):
                if await self._newer_exists(conn, result_id):  # a newer result replaces this one
                    delivery = superseded(delivery, delivery.updated_at)
            params = {"b_result_id": result_id, "b_oid": oid, "b_holder": holder, **delivery_row(delivery)}
            done = await conn.execute(self._built(_finish_stmt), params)
            if done.rowcount != 1:
                raise LookupError(f"No result {result_id!r} for order {ref!r}.")
            await self._append_in(conn, events)
        return delivery

    async def _release_held(
        self, conn: AsyncConnection, oid: str, holder: str, token: int | None, quarantine_until: datetime | None
    ) -> bool:
        """Release the lease when `holder` still holds it with `token` (checked and released in one
        statement); False when it was lost. Without a token there is nothing to check (True)."""
        if token is None:
            await self._release_lease(conn, oid, holder, token, quarantine_until)
            return True
        mine = {"b_oid": oid, "b_holder": holder, "b_token": token, "b_until": quarantine_until or FREE}
        return bool((await conn.execute(self._built(release_held_stmt), mine)).rowcount == 1)

    async def set_delivery(
        self, result_id: str, delivery: Delivery, from_states: Sequence[DeliveryState], now: datetime
    ) -> bool:
        async with self._tx() as conn:
            stmt = update(results).where(
                results.c.id == result_id, results.c.delivery_state.in_([s.value for s in from_states]),
                unclaimed(now),
            )  # fmt: skip
            return bool((await conn.execute(stmt.values(**delivery_row(delivery)))).rowcount == 1)


def _record_or_error(row: Row[Any], now: datetime) -> DeliveryRecord | StoredRecordUnreadableError:
    try:
        return _record(row, now, newest=True)
    except StoredRecordUnreadableError as error:
        return error


def _record(row: Row[Any], now: datetime | None, *, newest: bool) -> DeliveryRecord:
    claimed = row.claimed_by if row.claim_until is not None and (now is None or row.claim_until > now) else None
    return DeliveryRecord(
        ref=OrderRef.parse(row.order_id), result=read_result(row.data, row.delivery, row.id),
        prepared=json.loads(row.prepared) if row.prepared else None, request_body=json.loads(row.request_body),
        claimed_by=claimed, newest=newest,
    )  # fmt: skip


def _after(cursor: str) -> ColumnElement[bool]:
    """Keyset bound past a cursor: results are listed by (recorded time, result id), so a cursor
    names only its own result and says nothing about what other tenants recorded."""
    created_at, result_id = decode_cursor(cursor, _CURSOR_KEY, field="after")
    return or_(results.c.created_at > created_at, and_(results.c.created_at == created_at, results.c.id > result_id))
