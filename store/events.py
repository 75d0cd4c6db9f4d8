"""The live-event log on the SQL store: append (serialised, so `seq` order is commit order), read a
range for one tenant's connections, prune past the retention window.

On PostgreSQL an append takes a transaction-level advisory lock, so no append with a smaller `seq`
can commit after one with a larger `seq` (a reader that saw `seq` N never misses N-1 later), and
sends `pg_notify` in the same transaction: listeners hear of it only once it is committed.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import bindparam, delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from providers.errors import InvalidInputError
from store.driver_sql import prebuilt
from store.interface import OrderEvent
from store.tables import event_log_keys, order_events
from store.transactions import Transactions

log = logging.getLogger("gateway.events")
NOTIFY_CHANNEL = "assessment_order_events"
_APPEND_LOCK = 7305182341  # pg_advisory_xact_lock key of event appends
# Built once, run with a list of rows: SQLAlchemy sends them as one INSERT ... VALUES (...), (...)
# RETURNING on both databases ("insertmanyvalues").
_APPEND = prebuilt(insert(order_events).returning(order_events.c.seq))
_LAST_SEQ = prebuilt(select(func.coalesce(func.max(order_events.c.seq), 0)))
_FIRST_KEPT = select(order_events.c.seq).where(order_events.c.at >= bindparam("b_before"))
_PRUNE = prebuilt(delete(order_events).where(order_events.c.seq < func.coalesce(
    _FIRST_KEPT.order_by(order_events.c.seq).limit(1).scalar_subquery(),
    select(func.max(order_events.c.seq)).scalar_subquery(),
)))  # fmt: skip
_LOCK_LOG = text(f"SELECT pg_advisory_xact_lock({_APPEND_LOCK})")
_NOTIFY = select(func.pg_notify(NOTIFY_CHANNEL, bindparam("b_payload")))


class EventLogStore(Transactions):
    """Mixed into `SqlStore`."""

    _cursor_key: bytes | None = None

    async def append_order_events(self, events: Sequence[OrderEvent]) -> list[OrderEvent]:
        if not events:
            return []
        async with self._tx() as conn:
            seqs = await self._append_in(conn, events)
        return [event.model_copy(update={"seq": seq}) for event, seq in zip(events, seqs, strict=True)]

    async def append_after_change(self, events: Sequence[OrderEvent]) -> bool:
        """Append once the change they announce is committed: a failure now loses these events, never
        the change (logged, not raised). True when they were appended."""
        if not events:
            return False
        try:
            await self.append_order_events(events)
        except Exception:
            log.exception("recording %d live event(s) (%s) failed", len(events), events[0].kind.value)
            return False
        return True

    async def _append_in(self, conn: AsyncConnection, events: Sequence[OrderEvent]) -> list[int]:
        """Append within the caller's write transaction, as its last step: the events commit (and
        listeners hear of them) with the change they announce, or not at all. Their `seq`s, in the
        events' order: the log's lock is held, so the one insert's numbers are consecutive."""
        if not events:
            return []
        await _lock_log(conn)
        rows = (await conn.execute(_APPEND, [_event_row(e) for e in events])).all()  # one multi-row INSERT
        seqs = sorted(int(row.seq) for row in rows)  # RETURNING's row order is not promised
        await _notify(conn, seqs[-1])
        return seqs

    async def order_events_after(
        self, after: int, connection_ids: Sequence[str] | None, *, until: int | None = None, limit: int = 500
    ) -> list[OrderEvent]:
        c = order_events.c
        stmt = select(order_events).where(c.seq > after).order_by(c.seq).limit(limit)
        if until is not None:
            stmt = stmt.where(c.seq <= until)
        if connection_ids is not None:
            stmt = stmt.where(c.connection_id.in_(list(connection_ids)))
        await self.on_disk()  # no event is announced that a power loss could take back
        async with self._read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [OrderEvent.model_validate(row._asdict()) for row in rows]

    async def last_order_event_seq(self) -> int:
        await self.on_disk()  # a cursor never points past what is on disk
        async with self._read() as conn:
            return int((await conn.execute(_LAST_SEQ)).scalar_one())

    async def prune_order_events(self, before: datetime) -> int:
        """Delete the events older than `before`: every event before the first one at or after it in
        `seq` order (found by walking the log from its oldest: the walk reads what is deleted), and never
        the newest event, so the largest `seq` never goes down and no `seq` is given twice."""
        async with self._tx() as conn:
            return int((await conn.execute(_PRUNE, {"b_before": before})).rowcount)

    async def event_cursor_key(self) -> bytes:
        if self._cursor_key is None:
            async with self._read() as conn:
                hexed = (await conn.execute(select(event_log_keys.c.cursor_key).limit(1))).scalar_one()
            self._cursor_key = bytes.fromhex(hexed)
        return self._cursor_key


async def _lock_log(conn: AsyncConnection) -> None:
    """PostgreSQL: appends are serialised (SQLite: the single writer already serialises them)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(_LOCK_LOG)


async def _notify(conn: AsyncConnection, seq: int) -> None:
    if conn.dialect.name == "postgresql":
        await conn.execute(_NOTIFY, {"b_payload": json.dumps({"seq": seq})})


def _event_row(event: OrderEvent) -> dict[str, object]:
    return {"kind": event.kind.value, "order_id": event.order_id, "connection_id": event.connection_id,
            "provider": event.provider.value, "status": event.status.value, "at": event.at}  # fmt: skip


# --------------------------------------------------------------------------- cursors
# A cursor is one AES block: the event's seq (8 bytes), its time in ms (6 bytes) and two zero bytes,
# encrypted with the store's key. It tells a tenant nothing about other tenants' events (not even
# how many there were), and a forged or altered cursor is refused.


def encode_event_cursor(key: bytes, seq: int, at: datetime) -> str:
    millis = int(at.timestamp() * 1000)
    block = seq.to_bytes(8, "big") + millis.to_bytes(6, "big") + b"\0\0"
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return base64.urlsafe_b64encode(encryptor.update(block) + encryptor.finalize()).decode().rstrip("=")


def decode_event_cursor(key: bytes, cursor: str) -> tuple[int, datetime]:
    """The (seq, time) of a cursor; BAD_USER_INPUT when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 16:
        raise InvalidInputError("Malformed cursor.", field="after")
    decryptor = Cipher(algorithms.AES(key), modes.ECB()).decryptor()
    block = decryptor.update(raw) + decryptor.finalize()
    if block[14:] != b"\0\0":
        raise InvalidInputError("Malformed cursor.", field="after")
    millis = int.from_bytes(block[8:14], "big")
    return int.from_bytes(block[:8], "big"), datetime.fromtimestamp(millis / 1000, UTC)
