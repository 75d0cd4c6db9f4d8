"""The SQL store: SQLAlchemy 2 async Core on SQLite (aiosqlite) or PostgreSQL (asyncpg)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Engine,
    Executable,
    Row,
    and_,
    bindparam,
    event,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from providers.errors import InvalidInputError
from providers.models import AssessmentOrder, AssessmentResult, OrderRef
from store.cursors import decode_cursor, encode_cursor
from store.decode import OrderDecodeCache, ResultDecodeCache, read_result
from store.driver_sql import DriverStatements, prebuilt
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
from store.outbox import OutboxStore
from store.queries import (
    PageShape,
    SortKey,
    filter_conditions,
    filter_parameters,
    list_values,
    order_row,
    page_statements,
    position_parameters,
)
from store.sqlite_reads import SqliteReader, reader_for
from store.sqlite_writes import SqliteWriter
from store.stats import DeliveryStats, delivery_stats
from store.tables import orders, persisted_documents, results, sync_state, webhook_events

Position = tuple[datetime, str]


def create_store(url: str) -> SqlStore:
    """A store on `sqlite+aiosqlite:///file.db` or `postgresql+asyncpg://user@host:port/db`."""
    engine = create_async_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        reader = reader_for(url, _sqlite_pragmas)
        writer = None if reader is None else SqliteWriter(reader.engine.url.render_as_string(False), _sqlite_pragmas)
        return SqlStore(engine, reader, writer)
    return SqlStore(engine)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class StatementTally:
    """Statements run by one caller's code (and the tasks it starts), background loops apart."""

    def __init__(self) -> None:
        self.count = 0


_tally: ContextVar[StatementTally | None] = ContextVar("statement_tally", default=None)


class SqlStore(OutboxStore, EventLogStore):
    """The `Store` over one SQLAlchemy async engine (delivery methods: store/outbox.py)."""

    def __init__(
        self, engine: AsyncEngine, reader: SqliteReader | None = None, writer: SqliteWriter | None = None
    ) -> None:
        self.engine = engine
        self.reader = reader  # SQLite files: SELECTs in one thread hand-off (store/sqlite_reads.py)
        self.writer = writer  # SQLite files: write transactions on the loop's thread (store/sqlite_writes.py)
        self.query_count = 0
        self.decoded = OrderDecodeCache()  # order rows read again are not decoded again
        self.decoded_results = ResultDecodeCache()  # nor an order's newest result, which a mutation reads back
        if reader is not None:  # SQLite files: prebuilt statements straight on the driver (store/driver_sql.py)
            self.driver = DriverStatements(reader.engine.dialect, self._count_statement)
            reader.driver = self.driver
            if writer is not None:
                writer.driver = self.driver
        # Counted by their event; the reader's and writer's statements by `self.driver`, which runs them.
        event.listen(engine.sync_engine, "before_cursor_execute", self._count_statement)

    @property
    def sync_engines(self) -> list[Engine]:
        """Every engine that runs statements (for statement events: counts, traces)."""
        extra = [self.reader.engine] if self.reader is not None else []
        return [self.engine.sync_engine, *extra, *([self.writer.engine] if self.writer is not None else [])]

    def _count_statement(self, *_args: Any) -> None:
        self.query_count += 1
        tally = _tally.get()
        if tally is not None:
            tally.count += 1

    @contextlib.contextmanager
    def statements(self) -> Iterator[StatementTally]:
        """Count the statements this caller runs inside the block. `query_count` counts every
        statement, the event hub's and the deliverer's polls included, so a count taken with it
        while those loops run can be off by their statements."""
        tally = StatementTally()
        token = _tally.set(tally)
        try:
            yield tally
        finally:
            _tally.reset(token)

    async def migrate(self) -> None:
        async with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # several instances may start together
                await conn.execute(text("SELECT pg_advisory_xact_lock(7305182340)"))
            await conn.run_sync(upgrade_to_head)

    async def close(self) -> None:
        if self.reader is not None:
            await asyncio.to_thread(self.reader.close)  # reads in flight finish first
        if self.writer is not None:
            async with self._sqlite_lock or contextlib.nullcontext():  # a write in progress ends first
                self.writer.close()
        await self.engine.dispose()

    async def migrations_at_head(self) -> bool:
        """Reachable and migrated to the newest revision (raises while the store is unreachable)."""
        async with self.engine.connect() as conn:
            return bool(await conn.run_sync(at_head))

    # ----------------------------------------------------------------------- orders

    async def upsert_order(self, order: AssessmentOrder) -> None:
        async with self._tx() as conn:
            await self._upsert_in(conn, order)

    async def _upsert_in(self, conn: AsyncConnection, order: AssessmentOrder, *, newer_only: bool = False) -> None:
        """Insert, or replace by id; a missing created_at keeps the stored (insertion) time.
        `newer_only`: an order older than the stored one changes nothing (by `updated_at`; an order
        without one never changes the stored status)."""
        await self._upsert_all(conn, [order], newer_only=newer_only)

    async def _merge_in(self, conn: AsyncConnection, order: AssessmentOrder) -> None:
        """Write back an order a delivered result was merged into (status, update time, document).
        When the row's other columns are what the order says (the usual case: nothing else changed
        it since it was read), one UPDATE of those three columns, which leaves the indexes on the
        others untouched; otherwise the full upsert, as `_upsert_in`."""
        if order.updated_at is None:
            await self._upsert_in(conn, order)
            return
        row = order_row(order, datetime.now(UTC))
        created = order.created_at is not None  # (a missing one keeps the stored time, as the upsert does)
        params = {f"b_{name}": value for name, value in row.items() if created or name != "created_at"}
        stmt = self._built(_merge_with_created if created else _merge_keeping_created)
        if (await conn.execute(stmt, params)).rowcount == 1:
            self.decoded.keep(row["id"], row["data"], order)
        else:
            await self._upsert_in(conn, order)

    async def get_orders(self, refs: Sequence[OrderRef]) -> dict[OrderRef, Stored[AssessmentOrder]]:
        wanted = {ref.encode(): ref for ref in refs}
        if not wanted:
            return {}
        params: dict[str, Any] = {}
        shape = list_values("refs", list(wanted), params)  # (as a filter by refs: short lists unexpanded)
        rows = await self._fetch(_orders_by_refs(shape), params, small=True)  # by primary key
        return {wanted[row.id]: self.decoded.order_or_error(row.data, row.id) for row in rows}

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
        page = await self._page(key, filter, start, end, first, last, count_total)
        rows, inside, (total, preceding, following) = page
        return OrderPage(
            orders=[self.decoded.order_or_error(row.data, row.id) for row in rows],
            cursors=[encode_cursor(key.name, row.sort_value, row.id) for row in rows],
            has_next_page=(first is not None and inside > first) or following,
            has_previous_page=(last is not None and inside > last) or preceding,
            total_count=total,
        )

    async def _page(
        self,
        key: SortKey,
        filter: OrderFilter,
        start: Position | None,
        end: Position | None,
        first: int | None,
        last: int | None,
        count_total: bool,
    ) -> tuple[list[Row[Any]], int, tuple[int | None, bool, bool]]:
        """The page (the first `first` rows of the cursor window, then the last `last` of those: Relay's
        slicing); `inside`, the window's rows counted up to one past the page (so it tells whether the
        page overflows); the total (when `count_total`) and whether any row lies at or before `after`,
        at or after `before`. One round trip: the window's rows, one past the page, carry those three
        as uncorrelated scalar subqueries (both databases evaluate them once); only an empty window
        takes a second statement for them. Only the total reads every matching row. The statements
        are built once per shape (store/queries.py `page_statements`); this call only gives the values."""
        backwards = first is None and last is not None
        cap = max(first or 0, last or 0) + 1 if first is not None or last is not None else None
        shape, params = filter_parameters(filter)
        statements = page_statements(PageShape(key, shape, start is not None, end is not None, backwards,
                                               cap is not None, count_total))  # fmt: skip
        if start is not None:
            params.update(position_parameters("start", start))
        if end is not None:
            params.update(position_parameters("end", end))
        # Without the total, the window's rows are read through the sort index up to the cap: a small read.
        rows = await self._fetch(statements.rows, params if cap is None else {**params, "cap": cap},
                                 small=cap is not None and not count_total)  # fmt: skip
        alone = statements.summary  # an empty window's summary
        found = rows[0] if rows else (await self._fetch(alone, params))[0] if alone is not None else None
        total = found.total if count_total and found is not None else None
        preceding = start is not None and found is not None and bool(found.preceding)
        following = end is not None and found is not None and bool(found.following)
        summary = (None if total is None else int(total), preceding, following)
        if backwards:
            return rows[:last][::-1], len(rows), summary
        page = rows if first is None else rows[:first]
        return (page if last is None else page[max(len(page) - last, 0) :]), len(rows), summary

    # ----------------------------------------------------------------------- results

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
        return {wanted[row.order_id]: self.decoded_results.result_or_error(row.order_id, row.data, row.delivery, row.id) for row in rows}

    async def order_and_latest_result(
        self, ref: OrderRef
    ) -> tuple[Stored[AssessmentOrder] | None, Stored[AssessmentResult] | None]:
        oid = ref.encode()
        async with self._read() as conn:  # one indexed row: read where the caller is
            rows = (await conn.execute(_ORDER_AND_LATEST, {"b_oid": oid})).all()
        if not rows:
            return None, None
        row = rows[0]
        order = self.decoded.order_or_error(row.data, oid)
        if row.result_id is None:
            return order, None
        return order, self.decoded_results.result_or_error(oid, row.result_data, row.delivery, row.result_id)

    async def get_result(self, result_id: str) -> AssessmentResult | None:
        stmt = select(results.c.data, results.c.delivery).where(results.c.id == result_id)
        rows = await self._fetch(stmt)
        return read_result(rows[0].data, rows[0].delivery, result_id) if rows else None

    # ----------------------------------------------------------------------- intake

    async def record_event(self, event: WebhookEvent, orders_: Sequence[AssessmentOrder]) -> bool:
        return (await self.record_events([EventWrite(event, tuple(orders_))]))[0]

    async def record_events(self, writes: Sequence[EventWrite]) -> list[bool]:
        """Several deliveries in one transaction (one commit): each event new to the store is
        inserted with its orders (newer-only) and, last, its live events; a redelivery changes nothing.
        A few statements per group whatever its size: the events in one multi-row insert, the orders
        in one batch per run of the same upsert shape, in the deliveries' order."""
        async with self._tx() as conn:
            fresh = await self._insert_events(conn, [write.event for write in writes])
            kept = [order for write, new in zip(writes, fresh, strict=True) if new for order in write.orders]
            await self._upsert_all(conn, kept, newer_only=True)  # an older event never overwrites the stored one
            await self._append_in(conn, [e for write, new in zip(writes, fresh, strict=True) if new for e in write.announce])
        return fresh

    async def _insert_events(self, conn: AsyncConnection, events: Sequence[WebhookEvent]) -> list[bool]:
        """Insert the events; False for one whose key the connection already has (a redelivery, or
        the same key earlier in `events`)."""
        if not events:
            return []
        rows = [
            {"connection_id": e.connection_id, "event_key": e.event_key, "event_type": e.event_type,
             "order_ids": json.dumps(list(e.order_ids)), "received_at": e.received_at, "payload": json.dumps(e.payload)}
            for e in events
        ]  # fmt: skip
        stmt = _event_insert(self.engine.dialect.name)
        inserted = {(row.connection_id, row.event_key) for row in (await conn.execute(stmt, rows)).all()}
        fresh = []
        for e in events:
            key = (e.connection_id, e.event_key)
            fresh.append(key in inserted)
            inserted.discard(key)  # a second delivery of the same key in this group is a redelivery
        return fresh

    async def _upsert_all(
        self, conn: AsyncConnection, orders_: Sequence[AssessmentOrder], *, newer_only: bool = False
    ) -> None:
        """`_upsert_in` for each order, in order: consecutive orders of one shape in one batch."""
        now = datetime.now(UTC)
        run: list[dict[str, Any]] = []
        shape: tuple[bool, bool] | None = None
        for order in orders_:
            this = (order.created_at is None, order.updated_at is None)
            if run and this != shape:
                await conn.execute(_upsert_stmt(self.engine.dialect.name, *shape, newer_only), run)  # type: ignore[misc]
                run = []
            shape = this
            row = order_row(order, now)
            self.decoded.keep(row["id"], row["data"], order)  # the next read of this text decodes nothing
            run.append(row)
        if run:
            await conn.execute(_upsert_stmt(self.engine.dialect.name, *shape, newer_only), run)  # type: ignore[misc]

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
        async with self._tx() as conn:
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
        async with self._tx() as conn:
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
        async with self._tx() as conn:
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

    async def _fetch(
        self, stmt: Executable, params: Mapping[str, Any] | None = None, *, small: bool = False
    ) -> list[Row[Any]]:
        """`small`: a few rows through an index (SQLite: may run on the loop's thread, store/sqlite_reads.py)."""
        if self.reader is not None:
            return await self.reader.fetch(stmt, params, small=small)
        async with self.engine.connect() as conn:
            return list((await conn.execute(stmt, params)).all())


def _order_and_latest() -> Executable:
    each = results.alias("each_result")
    newest = select(func.max(each.c.seq)).where(each.c.order_id == orders.c.id).correlate(orders).scalar_subquery()
    joined = orders.outerjoin(results, and_(results.c.order_id == orders.c.id, results.c.seq == newest))
    return select(orders.c.data, results.c.id.label("result_id"), results.c.data.label("result_data"),
                  results.c.delivery).select_from(joined).where(orders.c.id == bindparam("b_oid"))  # fmt: skip


_ORDER_AND_LATEST = prebuilt(_order_and_latest())


@functools.cache
def _orders_by_refs(shape: str) -> Executable:
    """Orders by id, for the filter shape `list_values` gives a list of ids ("refs:N" or "refs")."""
    return prebuilt(select(orders.c.id, orders.c.data).where(*filter_conditions((shape,))))


@functools.cache
def _event_insert(dialect: str) -> Executable:
    insert_into = pg_insert if dialect == "postgresql" else sqlite_insert
    return prebuilt(insert_into(webhook_events).on_conflict_do_nothing(
        index_elements=[webhook_events.c.connection_id, webhook_events.c.event_key]
    ).returning(webhook_events.c.connection_id, webhook_events.c.event_key))  # fmt: skip


@functools.cache
def _upsert_stmt(dialect: str, created_missing: bool, updated_missing: bool, newer_only: bool) -> Executable:
    """The order upsert for one shape of order, built once (executed with `order_row`'s values)."""
    insert_into = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert_into(orders)
    names = [column.name for column in orders.columns if column.name != "id"]
    changes: dict[str, Any] = {name: stmt.excluded[name] for name in names}
    if created_missing:
        changes["created_at"] = orders.c.created_at
    if updated_missing:
        changes["updated_at"] = changes["created_at"]
    where = None
    if newer_only:
        newer = orders.c.updated_at <= stmt.excluded.updated_at
        where = orders.c.status == stmt.excluded.status if updated_missing else newer
    return prebuilt(stmt.on_conflict_do_update(index_elements=[orders.c.id], set_=changes, where=where))


def _merge_stmt(*, created: bool) -> Any:
    """UPDATE status, updated_at and data of order `b_id` where its other columns already hold the
    order's values (created_at too when `created`; a missing one keeps the stored time)."""
    c = orders.c
    same = [c.connection_id == bindparam("b_connection_id"), c.provider == bindparam("b_provider"),
            c.provider_order_id == bindparam("b_provider_order_id"),
            c.package_id.is_not_distinct_from(bindparam("b_package_id", type_=c.package_id.type)),
            c.candidate_emails == bindparam("b_candidate_emails"), c.candidate_name == bindparam("b_candidate_name")]  # fmt: skip
    if created:
        same.append(c.created_at == bindparam("b_created_at", type_=c.created_at.type))
    values = {"status": bindparam("b_status"), "updated_at": bindparam("b_updated_at", type_=c.updated_at.type),
              "data": bindparam("b_data")}  # fmt: skip
    return update(orders).where(c.id == bindparam("b_id"), *same).values(**values)


def _merge_with_created(_dialect: str) -> Any:
    return _merge_stmt(created=True)


def _merge_keeping_created(_dialect: str) -> Any:
    return _merge_stmt(created=False)


def _check_size(name: str, value: int | None) -> None:
    if value is not None and value < 0:
        raise InvalidInputError(f"{name} must not be negative.", field=name)

