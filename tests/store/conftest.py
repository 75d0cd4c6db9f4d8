"""Store fixtures: every store test runs on SQLite (a file) and on PostgreSQL (a throw-away database)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from store import SqlStore, create_store

ADMIN_URL = os.environ.get("STORE_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _url(driver: str, database: str | None = None) -> str:
    url = make_url(ADMIN_URL).set(drivername=driver)
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


async def _admin_connection() -> asyncpg.Connection:
    """The admin connection; skips without PostgreSQL, or fails when CI is set."""
    try:
        return await asyncpg.connect(_url("postgresql"), timeout=5)
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        reason = f"PostgreSQL not reachable at {make_url(ADMIN_URL)!r} ({exc!r}); set STORE_TEST_PG_ADMIN_URL"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set: {reason}")
        pytest.skip(reason)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
        return
    async with fresh_pg_database("store_test") as url:
        yield url


@asynccontextmanager
async def fresh_pg_database(prefix: str) -> AsyncIterator[str]:
    """A new PostgreSQL database's URL, dropped afterwards (skips or fails as `_admin_connection`)."""
    admin = await _admin_connection()
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _url("postgresql+asyncpg", name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[SqlStore]:
    opened = create_store(store_url)
    await opened.migrate()
    yield opened
    await opened.close()
