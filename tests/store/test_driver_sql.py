"""Prebuilt statements straight on SQLite's driver (store/driver_sql.py): the same rows, values,
row counts and errors as SQLAlchemy's own execution, counted as statements, and SQLAlchemy's path
wherever the driver path cannot be exact."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.exc import IntegrityError

from store import SqlStore, create_store
from store.driver_sql import DriverStatements, prebuilt
from store.tables import delivery_leases

T0 = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)

_INSERT = prebuilt(insert(delivery_leases).returning(delivery_leases.c.order_id, delivery_leases.c.lease_until))
_BY_HOLDER = prebuilt(
    select(delivery_leases.c.order_id, delivery_leases.c.lease_until, delivery_leases.c.token)
    .where(delivery_leases.c.holder == bindparam("b_holder"))
    .order_by(delivery_leases.c.order_id)
)
_EXPANDING = prebuilt(
    select(delivery_leases.c.order_id).where(delivery_leases.c.order_id.in_(bindparam("b_ids", expanding=True)))
)
_SET_BY_ORDER = prebuilt(update(delivery_leases).where(delivery_leases.c.order_id == bindparam("b_oid")))


def _lease(oid: str, holder: str = "h", minutes: int = 0) -> dict[str, Any]:
    return {"order_id": oid, "result_id": f"r-{oid}", "holder": holder, "lease_until": T0 + timedelta(minutes=minutes),
            "token": 1, "sending": 0}  # fmt: skip


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    opened = create_store(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    await opened.migrate()
    assert opened.driver is not None
    yield opened
    await opened.close()


async def _both(store: SqlStore, stmt: Any, params: Any) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The rows through the driver path, then through SQLAlchemy's (same transaction, rolled back)."""
    assert store.reader is not None and store.driver is not None
    store.reader.driver = None
    async with store._read() as plain:
        expected = [tuple(row) for row in (await plain.execute(stmt, params)).all()]
    store.reader.driver = store.driver
    async with store._read() as conn:
        got = [tuple(row) for row in (await conn.execute(stmt, params)).all()]
    return got, expected


async def test_rows_and_values_are_those_sqlalchemy_gives(store: SqlStore) -> None:
    # given leases written through the driver path, several parameter sets with RETURNING
    with store.statements() as tally:
        async with store._tx() as conn:
            back = (await conn.execute(_INSERT, [_lease("o-2", minutes=2), _lease("o-1", minutes=1)])).all()
    # then each set's row came back, in order, with a timezone-aware UTC time (UtcDateTime's processor)
    assert [(row.order_id, row.lease_until) for row in back] == [("o-2", T0 + timedelta(minutes=2)),
                                                                  ("o-1", T0 + timedelta(minutes=1))]  # fmt: skip
    assert tally.count == 1  # one statement, as SQLAlchemy's one multi-row INSERT
    # and a read gives what SQLAlchemy's own execution gives
    got, expected = await _both(store, _BY_HOLDER, {"b_holder": "h"})
    assert got == expected == [("o-1", T0 + timedelta(minutes=1), 1), ("o-2", T0 + timedelta(minutes=2), 1)]
    assert got[0][1].tzinfo is UTC


async def test_an_update_reports_its_row_count_and_sets_the_named_columns(store: SqlStore) -> None:
    async with store._tx() as conn:
        await conn.execute(_INSERT, [_lease("o-1"), _lease("o-2")])
    later = T0 + timedelta(hours=1)
    async with store._tx() as conn:
        # the SET columns are those the parameters name (compiled once per set of names)
        done = await conn.execute(_SET_BY_ORDER, {"b_oid": "o-1", "lease_until": later, "token": 7})
        missing = await conn.execute(_SET_BY_ORDER, {"b_oid": "o-9", "holder": "x"})
    assert (done.rowcount, missing.rowcount) == (1, 0)
    async with store._read() as conn:
        rows = (await conn.execute(_BY_HOLDER, {"b_holder": "h"})).all()
    assert [(r.order_id, r.lease_until, r.token) for r in rows] == [("o-1", later, 7), ("o-2", T0, 1)]


async def test_a_constraint_violation_is_sqlalchemys_integrity_error_and_rolls_back(store: SqlStore) -> None:
    async with store._tx() as conn:
        await conn.execute(_INSERT, [_lease("o-1")])
    with pytest.raises(IntegrityError):
        async with store._tx() as conn:
            await conn.execute(_SET_BY_ORDER, {"b_oid": "o-1", "holder": "other"})
            await conn.execute(_INSERT, [_lease("o-1")])  # the same order again: primary key
    async with store._read() as conn:  # the whole transaction was rolled back
        assert (await conn.execute(_BY_HOLDER, {"b_holder": "other"})).all() == []
        assert len((await conn.execute(_BY_HOLDER, {"b_holder": "h"})).all()) == 1


async def test_what_the_driver_path_cannot_take_runs_through_sqlalchemy(store: SqlStore) -> None:
    async with store._tx() as conn:
        await conn.execute(_INSERT, [_lease("o-1"), _lease("o-2"), _lease("o-3")])
    assert store.driver is not None
    # an expanding IN (rendered per execution) and a statement not marked prebuilt
    got, expected = await _both(store, _EXPANDING, {"b_ids": ["o-1", "o-3"]})
    assert sorted(got) == sorted(expected) == [("o-1",), ("o-3",)]
    unmarked = select(delivery_leases.c.order_id).where(delivery_leases.c.order_id == "o-2")
    async with store._read() as conn:
        assert (await conn.execute(unmarked)).scalar() == "o-2"
    assert all(compiled is None for stmt, compiled in store.driver._compiled.values() if stmt is _EXPANDING)
    assert not any(stmt is unmarked for stmt, _ in store.driver._compiled.values())


async def test_statements_are_counted_on_both_paths(store: SqlStore) -> None:
    with store.statements() as tally:
        async with store._read() as conn:
            await conn.execute(_BY_HOLDER, {"b_holder": "h"})  # driver path
            await conn.execute(_EXPANDING, {"b_ids": ["o-1"]})  # SQLAlchemy's path
    assert tally.count == 2


async def test_the_compiled_forms_are_bounded(store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from store import driver_sql

    monkeypatch.setattr(driver_sql, "MAX_COMPILED", 3)
    driver = DriverStatements(store.driver.dialect)  # type: ignore[union-attr]
    assert store.reader is not None
    with store.reader.engine.connect() as conn:
        for holder in ("a", "b", "c", "d", "e"):
            stmt = prebuilt(select(delivery_leases.c.order_id).where(delivery_leases.c.holder == bindparam("b_h")))
            assert driver.execute(conn, stmt, {"b_h": holder}).all() == []
    assert len(driver._compiled) == 3


async def test_while_anyone_listens_to_statement_events_they_see_every_statement(store: SqlStore) -> None:
    seen: list[str] = []

    def listener(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    assert store.reader is not None
    event.listen(store.reader.engine, "before_cursor_execute", listener)
    try:
        async with store._read() as conn:
            await conn.execute(_BY_HOLDER, {"b_holder": "h"})
    finally:
        event.remove(store.reader.engine, "before_cursor_execute", listener)
    async with store._read() as conn:
        await conn.execute(_BY_HOLDER, {"b_holder": "h"})  # nobody listens: the driver path
    assert len(seen) == 1 and "delivery_leases.holder = ?" in seen[0]


async def test_the_reads_worker_threads_share_the_compiled_forms(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from store import driver_sql

    monkeypatch.setattr(driver_sql, "MAX_COMPILED", 4)  # evicting all the time
    assert store.reader is not None and store.driver is not None
    statements = [prebuilt(select(delivery_leases.c.order_id).where(delivery_leases.c.holder == bindparam(f"b_{i}")))
                  for i in range(40)]  # fmt: skip

    def read(i: int) -> list[Any]:
        with store.reader.engine.connect() as conn:  # type: ignore[union-attr]
            return list(store.driver.execute(conn, statements[i % 40], {f"b_{i % 40}": "h"}).all())  # type: ignore[union-attr]

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(read, range(400))) == [[]] * 400
    assert len(store.driver._compiled) <= 4


def test_sqlite_timestamps_are_the_text_sqlalchemy_writes_and_read_back_as_utc() -> None:
    from datetime import timezone

    from sqlalchemy import DateTime
    from sqlalchemy.dialects import sqlite

    from store.tables import UtcDateTime

    dialect = sqlite.dialect()
    ours, theirs = UtcDateTime()._cached_bind_processor(dialect), DateTime()._cached_bind_processor(dialect)
    read = UtcDateTime()._cached_result_processor(dialect, None)
    assert ours is not None and theirs is not None and read is not None
    for value in (T0, datetime(1, 1, 1), datetime(999, 12, 31, 23, 59, 59), datetime(2026, 1, 1, 0, 0, 0, 5, UTC),
                  datetime(2026, 1, 1, 3, tzinfo=timezone(timedelta(hours=5)))):  # fmt: skip
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        # written as SQLAlchemy's own SQLite DATETIME text of the UTC time (same width: sorts in time order)
        assert ours(value) == theirs(utc.replace(tzinfo=None))
        # read back aware, in UTC
        assert read(ours(value)) == utc and read(ours(value)).tzinfo is UTC
    # text in the other forms SQLite may hold (shorter, an offset) still reads as its UTC time
    assert read("2026-11-01 10:00:00") == datetime(2026, 11, 1, 10, tzinfo=UTC)
    assert read("2026-11-01") == datetime(2026, 11, 1, tzinfo=UTC)
    assert read("2026-11-01T12:00:00+02:00") == datetime(2026, 11, 1, 10, tzinfo=UTC)
    assert ours(None) is None and read(None) is None
