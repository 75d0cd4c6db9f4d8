"""Migrations: upgrade to head in code, idempotently, to exactly the schema the queries use."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text

from store import SqlStore, create_store
from store.tables import metadata
from tests.store.store_samples import make_order, ref_of


async def test_migrate_twice_is_a_no_op(store: SqlStore) -> None:
    # given a migrated store holding an order
    order = make_order("o-1")
    await store.upsert_order(order)
    # when it migrates again
    await store.migrate()
    # then the data and the version are untouched
    assert await store.get_orders([ref_of(order)]) == {ref_of(order): order}
    async with store.engine.connect() as conn:
        versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
    assert versions == ["0012"]


def _schema_diff(connection: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection), metadata))


async def test_migrations_build_exactly_the_tables_the_queries_use(store: SqlStore) -> None:
    async with store.engine.connect() as conn:
        diff = await conn.run_sync(_schema_diff)
    assert diff == []


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    store = create_store(f"sqlite+aiosqlite:///{tmp_path / 'wal.db'}")
    try:
        await store.migrate()
        async with store.engine.connect() as conn:
            journal = (await conn.execute(text("PRAGMA journal_mode"))).scalar()
            foreign_keys = (await conn.execute(text("PRAGMA foreign_keys"))).scalar()
    finally:
        await store.close()
    assert (journal, foreign_keys) == ("wal", 1)


async def test_upgrade_to_0012_keeps_the_event_log_and_its_sequence(store_url: str) -> None:
    from datetime import timedelta

    from sqlalchemy import insert, select

    from store.interface import OrderEvent, OrderEventKind
    from store.tables import order_events
    from tests.store.store_samples import T0
    from tests.store.test_store_outbox import _upgrade_to

    opened = create_store(store_url)
    try:
        # given a 0011 store whose event log holds three events
        async with opened.engine.begin() as conn:
            await conn.run_sync(_upgrade_to, "0011")
            for n in range(3):
                await conn.execute(insert(order_events).values(
                    kind="ORDER_RECEIVED", order_id=f"o-{n}", connection_id="conn-a", provider="KOMBO",
                    status="OPEN", at=T0 + timedelta(minutes=n),
                ))  # fmt: skip
        # when it migrates to head and an event is appended
        await opened.migrate()
        order = make_order("o-new")
        event = OrderEvent(kind=OrderEventKind.ORDER_RECEIVED, order_id=ref_of(order).encode(), connection_id="conn-a",
                           provider=order.provider, status=order.status, at=T0 + timedelta(minutes=5))  # fmt: skip
        [appended] = await opened.append_order_events([event])
        async with opened.engine.connect() as conn:
            kept = (await conn.execute(select(order_events.c.seq, order_events.c.order_id).order_by("seq"))).all()
            schema = ""
            if conn.dialect.name == "sqlite":
                found = "SELECT sql FROM sqlite_master WHERE name = 'order_events'"
                schema = (await conn.execute(text(found))).scalar_one()
    finally:
        await opened.close()
    # then the three are kept with their numbers and the new one follows them
    assert [row.order_id for row in kept] == ["o-0", "o-1", "o-2", ref_of(order).encode()]
    assert [row.seq for row in kept][-1] == appended.seq == kept[2].seq + 1
    # and SQLite's table no longer keeps a sequence of its own (the prune keeps the newest event)
    assert "AUTOINCREMENT" not in schema.upper()
