"""The SQL store: SQLAlchemy 2 async Core on SQLite (aiosqlite) or PostgreSQL (asyncpg)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Executable,
    Row,
    and_,
    event,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from providers.errors import InvalidInputError, OrderNotFoundError
from providers.models import AssessmentOrder, AssessmentResult, Delivery, OrderRef
from store.cursors import decode_cursor, encode_cursor
from store.decode import order_or_error, read_result, result_or_error
from store.events import EventLogStore
from store.interface import (
    EventWrite,
    OrderFilter,
    OrderPage,
    OrderSort,
    PersistedDocument,
    Stored,
    SyncState,
    WebhookEvent,
)
from store.migrations import at_head, upgrade_to_head
from store.outbox import OutboxStore, delivery_row
from store.queries import SortKey, filter_conditions, order_row
from store.stats import DeliveryStats, delivery_stats
from store.tables import orders, persisted_documents, results, sync_state, webhook_events

Position = tuple[datetime, str]


def create_store(url: str) -> SqlStore:
    """A store on `sqlite+aiosqlite:///file.db` or `postgresql+asyncpg://user@host:port/db`."""
    engine = create_async_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return SqlStore(engine)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class SqlStore(OutboxStore, EventLogStore):
    """The `Store` over one SQLAlchemy async engine (delivery methods: store/outbox.py)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.query_count = 0
        event.listen(engine.sync_engine, "before_cursor_execute", self._count_statement)

    def _count_statement(self, *_args: Any) -> None:
        self.query_count += 1

    async def migrate(self) -> None:
        async with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # several instances may start together
                await conn.execute(text("SELECT pg_advisory_xact_lock(7305182340)"))
            await conn.run_sync(upgrade_to_head)

    async def close(self) -> None:
        await self.engine.dispose()

    async def migrations_at_head(self) -> bool:
        """Reachable and migrated to the newest revision (raises while the store is unreachable)."""
        async with self.engine.connect() as conn:
            return bool(await conn.run_sync(at_head))

    # ----------------------------------------------------------------------- orders

    async def upsert_order(self, order: AssessmentOrder) -> None:
        async with self._write() as conn:
            await conn.execute(self._upsert(order))

    def _upsert(self, order: AssessmentOrder, *, newer_only: bool = False) -> Executable:
        """Insert, or replace by id; a missing created_at keeps the stored (insertion) time.
        `newer_only`: an order older than the stored one changes nothing (by `updated_at`; an order
        without one never changes the stored status)."""
        insert_into = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        values = order_row(order, datetime.now(UTC))
        stmt = insert_into(orders).values(**values)
        changes: dict[str, Any] = {name: stmt.excluded[name] for name in values if name != "id"}
        if order.created_at is None:
            changes["created_at"] = orders.c.created_at
        if order.updated_at is None:
            changes["updated_at"] = changes["created_at"]
        where = None
        if newer_only:
            newer = orders.c.updated_at <= stmt.excluded.updated_at
            where = newer if order.updated_at else orders.c.status == stmt.excluded.status
        return stmt.on_conflict_do_update(index_elements=[orders.c.id], set_=changes, where=where)

    async def get_orders(self, refs: Sequence[OrderRef]) -> dict[OrderRef, Stored[AssessmentOrder]]:
        wanted = {ref.encode(): ref for ref in refs}
        if not wanted:
            return {}
        stmt = select(orders.c.id, orders.c.data).where(orders.c.id.in_(list(wanted)))
        rows = await self._fetch(stmt)
        return {wanted[row.id]: order_or_error(row.data, row.id) for row in rows}

    async def list_orders(
        self,
        filter: OrderFilter,
        *,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        sort: OrderSort = OrderSort.CREATED_AT_DESC,
        count_total: bool = True,
    ) -> OrderPage:
        _check_size("first", first)
        _check_size("last", last)
        key = SortKey.of(sort)
        start = decode_cursor(after, key.name, field="after") if after is not None else None
        end = decode_cursor(before, key.name, field="before") if before is not None else None
        base = filter_conditions(filter)
        bounds = _window(key, start, end)
        rows = await self._page_rows(key, base + bounds, first, last)
        cap = max(first or 0, last or 0) + 1
        total, inside, preceding, following = await self._counts(key, base, bounds, start, end, cap, count_total)
        return OrderPage(
            orders=[order_or_error(row.data, row.id) for row in rows],
            cursors=[encode_cursor(key.name, row.sort_value, row.id) for row in rows],
            has_next_page=(first is not None and inside > first) or following,
            has_previous_page=(last is not None and inside > last) or preceding,
            total_count=total,
        )

    async def _page_rows(
        self, key: SortKey, window: list[ColumnElement[bool]], first: int | None, last: int | None
    ) -> list[Row[Any]]:
        """First `first` rows of the window, then the last `last` of those (Relay's slicing)."""
        backwards = first is None and last is not None
        stmt = (
            select(orders.c.id, orders.c.data, key.column.label("sort_value"))
            .where(*window)
            .order_by(*key.order_by(reverse=backwards))
            .limit(last if backwards else first)
        )
        rows = await self._fetch(stmt)
        if backwards:
            return rows[::-1]
        return rows if last is None else rows[max(len(rows) - last, 0) :]

    async def _counts(
        self,
        key: SortKey,
        base: list[ColumnElement[bool]],
        bounds: list[ColumnElement[bool]],
        start: Position | None,
        end: Position | None,
        cap: int,
        count_total: bool,
    ) -> tuple[int | None, int, bool, bool]:
        """Matching rows in all (when `count_total`); rows inside the cursor window, counted up to `cap` (enough to tell
        whether a page overflows); whether any row lies at or before `after`, at or after `before`.
        Only the total reads every matching row; the rest stop early on the (time, id) index."""
        window = select(literal(1)).select_from(orders).where(*base, *bounds).limit(cap).subquery()

        def any_row(*where: ColumnElement[bool]) -> ColumnElement[bool]:
            return select(orders.c.id).where(*base, *where).exists()

        total = select(func.count()).select_from(orders).where(*base).scalar_subquery()
        stmt = select(
            total if count_total else literal(None),
            select(func.count()).select_from(window).scalar_subquery(),
            any_row(not_(key.beyond(start, after=True))) if start else literal(False),
            any_row(not_(key.beyond(end, after=False))) if end else literal(False),
        )
        row = (await self._fetch(stmt))[0]
        return None if row[0] is None else int(row[0]), int(row[1]), bool(row[2]), bool(row[3])

    # ----------------------------------------------------------------------- results

    async def record_result(
        self, ref: OrderRef, result: AssessmentResult, request_body: dict[str, Any]
    ) -> None:
        values = {
            "id": result.id,
            "order_id": ref.encode(),
            "connection_id": ref.connection_id,
            "created_at": result.submitted_at,
            "idempotency_key": result.update.idempotency_key,
            "request_body": json.dumps(request_body),
            "data": result.model_dump_json(exclude={"delivery"}),
            **_delivery_row(result.delivery),
        }
        try:
            async with self._write() as conn:
                await conn.execute(insert(results).values(**values))
        except IntegrityError:
            if ref not in await self.get_orders([ref]):
                raise OrderNotFoundError("No such assessment order.") from None
            raise

    async def finish_delivery(
        self, ref: OrderRef, result_id: str, delivery: Delivery, order: AssessmentOrder | None
    ) -> None:
        if order is not None and order.global_id != ref.encode():
            raise ValueError("The order given does not match the result's order.")
        where = and_(results.c.id == result_id, results.c.order_id == ref.encode())
        async with self._write() as conn:
            done = await conn.execute(update(results).where(where).values(**_delivery_row(delivery)))
            if done.rowcount != 1:
                raise LookupError(f"No result {result_id!r} for order {ref!r}.")
            if order is not None:
                await conn.execute(self._upsert(order))

    async def latest_results(self, refs: Sequence[OrderRef]) -> dict[OrderRef, Stored[AssessmentResult]]:
        wanted = {ref.encode(): ref for ref in refs}
        if not wanted:
            return {}
        # Newest = recorded last (insertion order `seq`), as superseding and the deliverer see it.
        rank = func.row_number().over(partition_by=results.c.order_id, order_by=results.c.seq.desc())
        ranked = (
            select(results.c.id, results.c.order_id, results.c.data, results.c.delivery, rank.label("rank"))
            .where(results.c.order_id.in_(list(wanted)))
            .subquery()
        )
        stmt = select(ranked.c.id, ranked.c.order_id, ranked.c.data, ranked.c.delivery).where(ranked.c.rank == 1)
        rows = await self._fetch(stmt)
        return {wanted[row.order_id]: result_or_error(row.data, row.delivery, row.id) for row in rows}

    async def order_and_latest_result(
        self, ref: OrderRef
    ) -> tuple[Stored[AssessmentOrder] | None, Stored[AssessmentResult] | None]:
        oid = ref.encode()
        each = results.alias("each_result")
        newest = select(func.max(each.c.seq)).where(each.c.order_id == orders.c.id).correlate(orders).scalar_subquery()
        joined = orders.outerjoin(results, and_(results.c.order_id == orders.c.id, results.c.seq == newest))
        stmt = select(orders.c.data, results.c.id.label("result_id"), results.c.data.label("result_data"),
                      results.c.delivery).select_from(joined).where(orders.c.id == oid)  # fmt: skip
        rows = await self._fetch(stmt)
        if not rows:
            return None, None
        row = rows[0]
        order = order_or_error(row.data, oid)
        if row.result_id is None:
            return order, None
        return order, result_or_error(row.result_data, row.delivery, row.result_id)

    async def get_result(self, result_id: str) -> AssessmentResult | None:
        stmt = select(results.c.data, results.c.delivery).where(results.c.id == result_id)
        rows = await self._fetch(stmt)
        return read_result(rows[0].data, rows[0].delivery, result_id) if rows else None

    # ----------------------------------------------------------------------- intake

    async def record_event(self, event: WebhookEvent, orders_: Sequence[AssessmentOrder]) -> bool:
        return (await self.record_events([EventWrite(event, tuple(orders_))]))[0]

    async def record_events(self, writes: Sequence[EventWrite]) -> list[bool]:
        """Several deliveries in one transaction (one commit): each event new to the store is
        inserted with its orders (newer-only) and, last, its live events; a redelivery changes nothing."""
        fresh: list[bool] = []
        async with self._write() as conn:
            for write in writes:
                fresh.append(await self._insert_event(conn, write.event))
                for order in write.orders if fresh[-1] else ():  # an older event never overwrites the stored one
                    await conn.execute(self._upsert(order, newer_only=True))
            await self._append_in(conn, [e for write, new in zip(writes, fresh, strict=True) if new for e in write.announce])
        return fresh

    async def _insert_event(self, conn: AsyncConnection, event: WebhookEvent) -> bool:
        """Insert the event; False when the connection already has its key (a redelivery)."""
        values = {
            "connection_id": event.connection_id, "event_key": event.event_key,
            "event_type": event.event_type, "order_ids": json.dumps(list(event.order_ids)),
            "received_at": event.received_at, "payload": json.dumps(event.payload),
        }  # fmt: skip
        insert_into = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        stmt = insert_into(webhook_events).values(**values).on_conflict_do_nothing(
            index_elements=[webhook_events.c.connection_id, webhook_events.c.event_key]
        ).returning(webhook_events.c.seq)  # fmt: skip
        return (await conn.execute(stmt)).first() is not None

    async def list_events(self, connection_id: str) -> list[WebhookEvent]:
        c = webhook_events.c
        stmt = select(webhook_events).where(c.connection_id == connection_id).order_by(c.seq)
        return [
            WebhookEvent(
                connection_id=row.connection_id, event_key=row.event_key, event_type=row.event_type,
                order_ids=tuple(json.loads(row.order_ids)), received_at=row.received_at,
                payload=json.loads(row.payload),
            )  # fmt: skip
            for row in await self._fetch(stmt)
        ]

    async def get_sync_state(self, connection_id: str) -> SyncState | None:
        rows = await self._fetch(select(sync_state).where(sync_state.c.connection_id == connection_id))
        return SyncState.model_validate(rows[0]._asdict()) if rows else None

    async def claim_sync(self, connection_id: str, now: datetime, lease_until: datetime) -> SyncState | None:
        c = sync_state.c
        async with self._write() as conn:
            insert_into = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
            await conn.execute(
                insert_into(sync_state).values(connection_id=connection_id).on_conflict_do_nothing()
            )
            free = and_(c.connection_id == connection_id, (c.lease_until.is_(None)) | (c.lease_until <= now))
            taken = await conn.execute(update(sync_state).where(free).values(lease_until=lease_until))
            if taken.rowcount != 1:
                return None
            row = (await conn.execute(select(sync_state).where(c.connection_id == connection_id))).one()
        return SyncState.model_validate(row._asdict())

    async def save_sync_state(self, state: SyncState) -> None:
        values = state.model_dump()
        insert_into = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        stmt = insert_into(sync_state).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[sync_state.c.connection_id],
            set_={k: stmt.excluded[k] for k in values if k != "connection_id"},
        )
        async with self._write() as conn:
            await conn.execute(stmt)

    # ----------------------------------------------------------------------- persisted documents

    async def delivery_stats(self) -> DeliveryStats:
        return await delivery_stats(self.engine)

    async def save_persisted_documents(self, documents: Sequence[PersistedDocument], *, replace: bool) -> int:
        if not documents:
            return 0
        insert_into = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        now = datetime.now(UTC)
        rows = [doc.model_dump() | {"created_at": doc.created_at or now} for doc in documents]
        stmt = insert_into(persisted_documents).values(rows)
        keys = [persisted_documents.c.source, persisted_documents.c.id]
        if replace:
            columns = ("body", "body_hash", "operation_name", "operation_type", "client_name")
            stmt = stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in columns})
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=keys)
        async with self._write() as conn:
            done = await conn.execute(stmt)
        return max(done.rowcount, 0)

    async def find_persisted_documents(
        self, *, ids: Sequence[str] = (), body_hashes: Sequence[str] = ()
    ) -> list[PersistedDocument]:
        c = persisted_documents.c
        conditions = ([c.id.in_(list(ids))] if ids else []) + ([c.body_hash.in_(list(body_hashes))] if body_hashes else [])
        if not conditions:
            return []
        stmt = select(persisted_documents).where(or_(*conditions)).order_by(c.source, c.id)
        return [PersistedDocument.model_validate(row._asdict()) for row in await self._fetch(stmt)]

    async def _fetch(self, stmt: Executable) -> list[Row[Any]]:
        async with self.engine.connect() as conn:
            return list((await conn.execute(stmt)).all())


def _check_size(name: str, value: int | None) -> None:
    if value is not None and value < 0:
        raise InvalidInputError(f"{name} must not be negative.", field=name)


def _window(key: SortKey, start: Position | None, end: Position | None) -> list[ColumnElement[bool]]:
    bounds = [key.beyond(start, after=True)] if start else []
    return bounds + ([key.beyond(end, after=False)] if end else [])


def _delivery_row(delivery: Delivery) -> dict[str, Any]:
    return delivery_row(delivery)

