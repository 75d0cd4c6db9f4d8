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
    assert versions == ["0011"]


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
