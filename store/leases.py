"""Order leases for the delivery outbox: claim with a fencing token, mark a request out, renew,
release, quarantine.

A lease row per order (`delivery_leases`) makes one holder the only sender for the order. Its
`token` grows with every claim and is checked when an attempt finishes, so a holder that lost its
lease (a stall past expiry) cannot store a stale outcome. `sending` is 1 while a request may be at
the provider: a lease that expires so (a crash, a stall) is not handed to the next claimer but
turned into a quarantine (no holder, `lease_until` = the end of the quarantine), and its result
becomes UNCONFIRMED. The rows are kept (never deleted) so the token only grows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, Update, and_, bindparam, exists, literal_column, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from providers.models import Delivery, DeliveryState, OrderRef
from store.interface import DeliveryClaim
from store.tables import ACTIVE_STATES, delivery_leases, results
from store.transactions import Transactions

ACTIVE = (DeliveryState.PENDING.value, DeliveryState.RETRYING.value, DeliveryState.UNCONFIRMED.value)
assert ACTIVE == ACTIVE_STATES
# "The delivery is still to be done", with the states written into the SQL (no parameter to expand):
# the condition of the partial index ix_results_active_order, so the planners can use it.
IS_ACTIVE = results.c.delivery_state.in_([literal_column(f"'{state}'") for state in ACTIVE])
FREE = datetime(1970, 1, 1, tzinfo=UTC)  # lease_until of a lease nobody holds
NOBODY = ""


def superseded(delivery: Delivery, now: datetime, message: str | None = None) -> Delivery:
    changes: dict[str, Any] = {"state": DeliveryState.SUPERSEDED, "next_attempt_at": None, "updated_at": now}
    if message is not None:
        changes["error_message"] = message
    return delivery.model_copy(update=changes)


def delivery_row(delivery: Delivery) -> dict[str, Any]:
    return {
        "delivery": delivery.model_dump_json(),
        "delivery_state": delivery.state.value,
        "delivery_attempts": delivery.attempts,
        "delivery_updated_at": delivery.updated_at,
        "delivery_next_attempt_at": delivery.next_attempt_at,
    }


# ----------------------------------------------------------------------- statements, built once
# (`Transactions._built`): parameters are named b_* (a bind named like a column is reserved for SET).


def _for_update(dialect: str, stmt: Any, *, skip_locked: bool = False, of: Any = results) -> Any:
    return stmt.with_for_update(skip_locked=skip_locked, of=of) if dialect == "postgresql" else stmt


def _insert_into(dialect: str) -> Any:
    return pg_insert if dialect == "postgresql" else sqlite_insert


def result_by_seq(_dialect: str) -> Update:
    """SET the columns named by the parameters' keys on result `b_seq`."""
    return update(results).where(results.c.seq == bindparam("b_seq"))


_later = results.alias("later")
# A result of the same order recorded after this one ("newest" is the insertion order, seq).
HAS_NEWER = exists().where(_later.c.order_id == results.c.order_id, _later.c.seq > results.c.seq)


def unclaimed(now: Any) -> ColumnElement[bool]:
    """Nobody holds the result's claim at `now` (a time or a bind parameter)."""
    return or_(results.c.claim_until.is_(None), results.c.claim_until <= now)


def _newer_stmt(_dialect: str) -> Select[Any]:
    return select(HAS_NEWER.label("newer")).where(results.c.id == bindparam("b_result_id"))


def _active_result_stmt(dialect: str) -> Select[Any]:
    stmt = select(results.c.seq, results.c.delivery).where(
        results.c.id == bindparam("b_result_id"), IS_ACTIVE
    )
    return _for_update(dialect, stmt)


def _waiting_stmt(dialect: str, *, skip_locked: bool) -> Select[Any]:
    stmt = select(results.c.seq, results.c.delivery).where(
        results.c.order_id == bindparam("b_oid"), results.c.id != bindparam("b_newest_id"),
        IS_ACTIVE,
        unclaimed(bindparam("b_now", type_=results.c.claim_until.type)),
    )  # fmt: skip
    return _for_update(dialect, stmt, skip_locked=skip_locked)


def _waiting_skip_locked(dialect: str) -> Select[Any]:
    return _waiting_stmt(dialect, skip_locked=True)


def _waiting_locked(dialect: str) -> Select[Any]:
    return _waiting_stmt(dialect, skip_locked=False)


def _abandoned_stmt(dialect: str) -> Select[Any]:
    stmt = select(delivery_leases).where(
        delivery_leases.c.order_id == bindparam("b_oid"), delivery_leases.c.lease_until <= bindparam("b_now"),
        delivery_leases.c.sending == 1,
    )  # fmt: skip
    return _for_update(dialect, stmt, of=delivery_leases)


def _lease_upsert_stmt(dialect: str, *, sending: int) -> Any:
    stmt = _insert_into(dialect)(delivery_leases).values(
        order_id=bindparam("b_oid"), result_id=bindparam("b_result_id"), holder=bindparam("b_holder"),
        lease_until=bindparam("b_until", type_=delivery_leases.c.lease_until.type), token=1, sending=sending,
    )  # fmt: skip
    return stmt.on_conflict_do_update(
        index_elements=[delivery_leases.c.order_id],
        set_={
            "result_id": stmt.excluded.result_id, "holder": stmt.excluded.holder,
            "lease_until": stmt.excluded.lease_until, "token": delivery_leases.c.token + 1, "sending": sending,
        },
        where=and_(delivery_leases.c.lease_until <= bindparam("b_now"), delivery_leases.c.sending == 0),
    ).returning(delivery_leases.c.token)  # fmt: skip


def _lease_upsert(dialect: str) -> Any:
    return _lease_upsert_stmt(dialect, sending=0)


def _lease_upsert_sending(dialect: str) -> Any:
    """The lease taken with a request out at once (`begin_send` folded into the claim)."""
    return _lease_upsert_stmt(dialect, sending=1)


def claimed_stmt(_dialect: str) -> Update:
    """Mark the result claimed by `b_holder` until `b_until` (both None: not claimed), and SET also the
    columns the parameters name (a counted send, a delivery put back)."""
    return update(results).where(results.c.id == bindparam("b_result_id")).values(
        claimed_by=bindparam("b_holder"), claim_until=bindparam("b_until", type_=results.c.claim_until.type)
    )


def result_row_stmt(dialect: str) -> Select[Any]:
    return _for_update(dialect, select(results.c.seq, results.c.delivery).where(results.c.id == bindparam("b_result_id")))


def _mine() -> tuple[Any, ...]:
    return (delivery_leases.c.order_id == bindparam("b_oid"), delivery_leases.c.holder == bindparam("b_holder"),
            delivery_leases.c.token == bindparam("b_token"))  # fmt: skip


def _mark_sending_stmt(_dialect: str) -> Update:
    until = bindparam("b_until", type_=delivery_leases.c.lease_until.type)
    return update(delivery_leases).where(*_mine()).values(sending=1, lease_until=until)


def release_held_stmt(_dialect: str) -> Update:
    until = bindparam("b_until", type_=delivery_leases.c.lease_until.type)
    return update(delivery_leases).where(*_mine()).values(holder=NOBODY, sending=0, lease_until=until)


class _LeaseLost(Exception):
    """Rolls back a renewal of a lease that is no longer ours."""


class LeaseStore(Transactions):
    """Mixed into `SqlStore` (through `OutboxStore`)."""

    def _for_update(self, stmt: Any, *, skip_locked: bool = False, of: Any = results) -> Any:
        return _for_update(self.engine.dialect.name, stmt, skip_locked=skip_locked, of=of)

    async def _lease(
        self, conn: AsyncConnection, oid: str, result_id: str, claim: DeliveryClaim, *, superseded: bool = False,
        counted: Delivery | None = None, fresh: bool = False, claimed: bool = False,
    ) -> int | None:
        """Take the order's lease when it is free or expired with no request out, and mark the result
        claimed: the new fencing token, or None. `superseded`: the caller has just superseded the
        order's other waiting results in this transaction (not done twice). `counted`: the request
        leaves at once (what `begin_send` does, in this transaction): the lease is taken with a
        request out and the result's delivery becomes `counted` (its send counted). `fresh`: the result
        was inserted by this transaction on SQLite, under the one write lock: nothing newer can exist.
        `claimed`: it was inserted already claimed by this holder until the lease's end, its delivery
        `counted` (the row is not written again; the caller puts it back when no token comes back).

        A lease that expired with its request out (a crash, a stall) quarantines the order first (see
        `_quarantine_abandoned`); the upsert below never takes such a lease, so that is looked for only
        when the upsert took nothing."""
        if not fresh and await self._newer_exists(conn, result_id):  # only the newest result of an order is ever sent
            if not await self._quarantine_abandoned(conn, oid, claim):
                await self._supersede_result(conn, result_id, claim.now)
            return None
        lease = {"b_oid": oid, "b_result_id": result_id, "b_holder": claim.holder, "b_until": claim.lease_until}
        upsert = self._built(_lease_upsert if counted is None else _lease_upsert_sending)
        row = (await conn.execute(upsert, {**lease, "b_now": claim.now})).first()
        if row is None:
            await self._quarantine_abandoned(conn, oid, claim)
            return None
        if not claimed:
            claimed_row = lease if counted is None else {**lease, **delivery_row(counted)}
            await conn.execute(self._built(claimed_stmt), claimed_row)
        # The order is ours now: whatever older result is still waiting is replaced by this one (rows
        # another transaction holds are skipped, never waited for: begin_send checks again).
        if not superseded:
            await self._supersede(conn, oid, result_id, claim.now, skip_locked=True)
        return int(row.token)

    async def _newer_exists(self, conn: AsyncConnection, result_id: str) -> bool:
        """A result recorded after this one for the same order ("newest" is the insertion order, seq)."""
        return bool((await conn.execute(self._built(_newer_stmt), {"b_result_id": result_id})).scalar())

    async def _supersede_result(self, conn: AsyncConnection, result_id: str, now: datetime) -> Delivery | None:
        """Mark one waiting result SUPERSEDED (a newer one replaces it) and unclaim it; its delivery."""
        row = (await conn.execute(self._built(_active_result_stmt), {"b_result_id": result_id})).first()
        if row is None:
            return None
        gone = superseded(Delivery.model_validate_json(row.delivery), now)
        values = {"b_seq": row.seq, **delivery_row(gone), "claimed_by": None, "claim_until": None}
        await conn.execute(self._built(result_by_seq), values)
        return gone

    async def _supersede(
        self, conn: AsyncConnection, oid: str, newest_id: str, now: datetime, *, skip_locked: bool = False
    ) -> int:
        """Other results of the order that are still waiting (not claimed) are not sent: the newest
        replaces them. How many it replaced."""
        stmt = self._built(_waiting_skip_locked if skip_locked else _waiting_locked)
        rows = (await conn.execute(stmt, {"b_oid": oid, "b_newest_id": newest_id, "b_now": now})).all()
        for row in rows:
            gone = superseded(Delivery.model_validate_json(row.delivery), now)
            await conn.execute(self._built(result_by_seq), {"b_seq": row.seq, **delivery_row(gone)})
        return len(rows)

    async def _quarantine_abandoned(self, conn: AsyncConnection, oid: str, claim: DeliveryClaim) -> bool:
        """A lease that expired while its request was out (crash, stall): the outcome is unknown, so
        the order is fenced for the quarantine and its result is UNCONFIRMED. True when so."""
        row = (await conn.execute(self._built(_abandoned_stmt), {"b_oid": oid, "b_now": claim.now})).first()
        if row is None:
            return False
        until = claim.now + timedelta(seconds=claim.quarantine_seconds)
        await conn.execute(
            update(delivery_leases).where(delivery_leases.c.order_id == oid, delivery_leases.c.token == row.token)
            .values(holder=NOBODY, lease_until=until, sending=0, token=row.token + 1)
        )  # fmt: skip
        await self._mark_unconfirmed(conn, row.result_id, claim.now, until)
        return True

    async def _mark_unconfirmed(self, conn: AsyncConnection, result_id: str, now: datetime, until: datetime) -> None:
        row = (await conn.execute(self._built(_active_result_stmt), {"b_result_id": result_id})).first()
        if row is None:
            return
        old = Delivery.model_validate_json(row.delivery)
        if await self._newer_exists(conn, result_id):
            # A newer result replaces it: never send this one again (the newer one goes after the
            # quarantine, so the provider ends on the newest whatever this request did).
            unconfirmed = superseded(old, now, "The instance sending it stopped before the outcome was known; a "
                                     "newer result replaces it.")  # fmt: skip
        else:
            unconfirmed = old.model_copy(update={
                "state": DeliveryState.UNCONFIRMED, "next_attempt_at": until, "updated_at": now,
                "error_message": "The instance sending it stopped before the outcome was known.",
            })  # fmt: skip
        values = {"b_seq": row.seq, **delivery_row(unconfirmed), "claimed_by": None, "claim_until": None}
        await conn.execute(self._built(result_by_seq), values)

    async def begin_send(
        self, ref: OrderRef, result_id: str, holder: str, token: int, lease_until: datetime,
        now: datetime | None = None,
    ) -> Delivery | None:
        """Just before a request leaves: check the lease is still ours (holder and token), extend it
        to `lease_until`, flag a request out and count the send. None when the lease was lost. When a
        newer result of the order was recorded meanwhile nothing is sent: the result is SUPERSEDED
        (that delivery is returned, sends not counted) and the lease is free for the newer one."""
        oid = ref.encode()
        async with self._tx() as conn:  # lock order everywhere: the result row, then the lease row
            row = (await conn.execute(self._built(result_row_stmt), {"b_result_id": result_id})).one()
            mine = {"b_oid": oid, "b_holder": holder, "b_token": token, "b_until": lease_until}
            taken = await conn.execute(self._built(_mark_sending_stmt), mine)  # the lease is still ours?
            if taken.rowcount != 1:
                return None
            if await self._newer_exists(conn, result_id):  # nothing leaves: the lease is free for the newer one
                gone = await self._supersede_result(conn, result_id, now or datetime.now(UTC))
                await self._release_lease(conn, oid, holder, token, None)
                return gone or Delivery.model_validate_json(row.delivery)
            old = Delivery.model_validate_json(row.delivery)
            counted = old.send_counted()
            values = {"b_seq": row.seq, **delivery_row(counted), "claim_until": lease_until}
            await conn.execute(self._built(result_by_seq), values)
        return counted

    async def renew_lease(self, ref: OrderRef, holder: str, token: int, lease_until: datetime) -> bool:
        """Extend a lease we still hold (a call in progress); False when it was lost."""
        oid = ref.encode()
        try:
            await self._renew(oid, holder, token, lease_until)
        except _LeaseLost:
            return False
        return True

    async def _renew(self, oid: str, holder: str, token: int, lease_until: datetime) -> None:
        async with self._tx() as conn:  # the result rows first, then the lease (one lock order)
            await conn.execute(
                update(results).where(results.c.order_id == oid, results.c.claimed_by == holder)
                .values(claim_until=lease_until)
            )  # fmt: skip
            mine = (delivery_leases.c.order_id == oid, delivery_leases.c.holder == holder,
                    delivery_leases.c.token == token)  # fmt: skip
            renewed = await conn.execute(update(delivery_leases).where(*mine).values(lease_until=lease_until))
            if renewed.rowcount != 1:
                raise _LeaseLost

    async def _release_lease(
        self, conn: AsyncConnection, oid: str, holder: str, token: int | None, quarantine_until: datetime | None
    ) -> None:
        where = [delivery_leases.c.order_id == oid, delivery_leases.c.holder == holder]
        if token is not None:
            where.append(delivery_leases.c.token == token)
        values = {"holder": NOBODY, "sending": 0, "lease_until": quarantine_until or FREE}
        await conn.execute(update(delivery_leases).where(*where).values(**values))

    async def release_claims(self, holder: str) -> int:
        """Give back what `holder` holds (graceful shutdown), except leases with a request out: those
        expire and then fence the order for its quarantine."""
        out = select(delivery_leases.c.order_id).where(delivery_leases.c.holder == holder, delivery_leases.c.sending == 1)
        async with self._tx() as conn:
            held = await conn.execute(
                update(results).where(results.c.claimed_by == holder, results.c.order_id.not_in(out))
                .values(claimed_by=None, claim_until=None)
            )  # fmt: skip
            await conn.execute(
                update(delivery_leases).where(delivery_leases.c.holder == holder, delivery_leases.c.sending == 0)
                .values(holder=NOBODY, lease_until=FREE)
            )  # fmt: skip
        return int(held.rowcount)
