"""SQLite on the event loop's thread (store/sqlite_writes.py, store/sqlite_reads.py): another
connection's write lock is waited for without stopping the loop, a lock held too long is an outage
(nothing written), a failed transaction leaves nothing behind, and a small read stays small as the
table grows."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, text

from providers.models import AssessmentOrder, Delivery, DeliveryState
from store import OrderFilter, OrderSort, SqlStore, create_store
from store.interface import DeliveryClaim
from store.outage import is_outage
from store.queries import order_row
from store.tables import orders
from tests.conftest import FIXED_NOW
from tests.store.store_samples import T0, make_order, make_result, ref_of


@pytest.fixture
async def file_store(tmp_path: Path) -> AsyncIterator[tuple[SqlStore, Path]]:
    path = tmp_path / "writer.db"
    opened = create_store(f"sqlite+aiosqlite:///{path}")
    await opened.migrate()
    assert opened.writer is not None  # a file: writes go through the inline writer
    yield opened, path
    await opened.close()


async def _ticks_while(work: asyncio.Task[object]) -> int:
    """How many times a 1 ms ticker ran on the loop while `work` was pending."""
    ticks = 0
    while not work.done():
        await asyncio.sleep(0.001)
        ticks += 1
    return ticks


async def test_a_write_waits_for_another_connections_lock_without_stopping_the_loop(
    file_store: tuple[SqlStore, Path],
) -> None:
    store, path = file_store
    # given another connection (as another process would) holding the write lock
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    order = make_order("o-locked")
    # when the store writes meanwhile and the lock is given back after 0.5 s
    write = asyncio.create_task(store.upsert_order(order))
    asyncio.get_running_loop().call_later(0.5, other.execute, "COMMIT")
    ticks = await _ticks_while(write)
    await write
    other.close()
    # then the write happened once the lock was free, and the loop ran all along (a loop blocked
    # in SQLite's busy handler for the 0.5 s ticks once or twice; a free one about 400 times, and
    # still dozens on a starved machine)
    assert await store.get_orders([ref_of(order)]) == {ref_of(order): order}
    assert ticks >= 10


async def test_a_lock_held_past_the_wait_is_an_outage_and_nothing_is_written(
    file_store: tuple[SqlStore, Path],
) -> None:
    store, path = file_store
    assert store.writer is not None
    store.writer.busy_seconds = 0.2
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    order = make_order("o-never")
    try:
        with pytest.raises(Exception) as raised:
            await store.upsert_order(order)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert is_outage(raised.value)  # callers answer SERVICE_UNAVAILABLE / retry later
    assert await store.get_orders([ref_of(order)]) == {}
    # and the next write goes through
    await store.upsert_order(order)
    assert ref_of(order) in await store.get_orders([ref_of(order)])


async def test_a_transaction_that_fails_leaves_nothing_and_the_next_one_commits(
    file_store: tuple[SqlStore, Path],
) -> None:
    store, _ = file_store
    first, second = make_order("o-first"), make_order("o-second")
    # when a transaction inserts an order and then fails (the same id again: a constraint)
    with pytest.raises(Exception, match="UNIQUE"):
        async with store._tx() as conn:
            await conn.execute(insert(orders).values(**order_row(first, FIXED_NOW)))
            await conn.execute(insert(orders).values(**order_row(first, FIXED_NOW)))
    # then nothing of it was kept, and the writer goes on
    await store.upsert_order(second)
    stored = await store.get_orders([ref_of(first), ref_of(second)])
    assert set(stored) == {ref_of(second)}


async def test_a_page_of_one_connection_reads_no_more_rows_as_the_connection_grows(
    file_store: tuple[SqlStore, Path],
) -> None:
    # given a connection with 3,000 orders (and another connection's orders beside them)
    store, _ = file_store
    for i in range(3000):
        await store.upsert_order(make_order(f"o-{i}", connection_id="conn-a"))
    for i in range(50):
        await store.upsert_order(make_order(f"p-{i}", connection_id="conn-b"))
    # when a page of 5 of one connection is read, newest first and by update time
    for sort in (OrderSort.CREATED_AT_DESC, OrderSort.UPDATED_AT_DESC):
        with store.statements() as tally:
            page = await store.list_orders(OrderFilter(connection_ids=("conn-a",)), first=5, sort=sort, count_total=False)
        # then it is read in one statement within the small-read budget of SQLite VM steps (a read
        # that sorted the connection's 3,000 orders first goes over it and is read a second time)
        assert len(page.orders) == 5 and page.has_next_page
        assert tally.count == 1


async def test_a_transaction_left_open_on_the_write_connection_is_rolled_back_before_the_next(
    file_store: tuple[SqlStore, Path],
) -> None:
    # given the write connection left inside a transaction with a write in it (what a COMMIT that
    # failed on a full disk leaves behind)
    store, _ = file_store
    assert store.writer is not None
    async with store.writer.transaction():
        pass
    driver = store.writer._conn.connection.driver_connection  # type: ignore[union-attr]
    driver.execute("BEGIN")
    driver.execute("DELETE FROM orders")
    # when the store writes next, then the write commits and the leftover does not
    order = make_order("o-after")
    await store.upsert_order(order)
    assert not driver.in_transaction
    assert ref_of(order) in await store.get_orders([ref_of(order)])


def _vm_steps(*connections: sqlite3.Connection) -> list[int]:
    """Counts SQLite VM steps on these connections while installed (one count for all)."""
    steps = [0]

    def step() -> int:
        steps[0] += 1
        return 0

    for conn in connections:
        conn.set_progress_handler(step, 1)
    return steps


async def test_recording_a_result_reads_no_more_rows_as_the_orders_history_grows(
    file_store: tuple[SqlStore, Path],
) -> None:
    store, path = file_store
    # given an order with 3,000 delivered results, and an order with one
    old, new = make_order("o-old"), make_order("o-new")
    for order in (old, new):
        await store.upsert_order(order)
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("BEGIN")
    for i in range(3001):
        oid = ref_of(old if i < 3000 else new).encode()
        raw.execute(
            "INSERT INTO results (id, order_id, created_at, request_body, data, delivery, delivery_state,"
            " delivery_attempts, connection_id) VALUES (?, ?, '2026-03-01 12:00:00.000000', '{}', '{}', '{}',"
            " 'DELIVERED', 1, 'conn-a')", (f"h-{i}", oid),
        )  # fmt: skip
    raw.execute("COMMIT")
    raw.close()

    async def steps_to_record(order: AssessmentOrder, result_id: str) -> int:
        assert store.writer is not None and store.reader is not None
        async with store.writer.transaction():  # (opens the write connection, which the reads use while idle)
            pass
        with store.reader.inline() as inline:  # (and the loop's read connection, used while it is not)
            connections = [store.writer._conn, inline]
        steps = _vm_steps(*(conn.connection.driver_connection for conn in connections))  # type: ignore[union-attr,arg-type]
        await store.order_and_latest_result(ref_of(order))
        result = make_result(result_id).model_copy(update={"delivery": Delivery(state=DeliveryState.PENDING, updated_at=T0)})
        claim = DeliveryClaim(holder="A", now=T0, lease_until=T0 + timedelta(seconds=30))
        assert await store.record_delivery(ref_of(order), result, {}, {"body": {}}, claim, begin_send=True)
        return steps[0]

    # when a result is read and recorded for each, the way a mutation does
    many, one = await steps_to_record(old, "r-old"), await steps_to_record(new, "r-new")
    # then the long history costs (about) nothing more: every read of the order's results seeks to
    # the few rows it needs (before the indexes of migration 0010, the 3,000 were read, ~30,000 steps)
    assert many < one + 300, (many, one)


def _outcome_claim(at: float = 0) -> DeliveryClaim:
    now = T0 + timedelta(seconds=at)
    return DeliveryClaim(holder="A", now=now, lease_until=now + timedelta(seconds=30))


async def _sent(store: SqlStore, order: AssessmentOrder, result_id: str, *, durable: bool = True) -> int:
    """A result recorded with its send begun (a durable commit unless `durable=False`, as a mutation
    records it); its lease token."""
    pending = make_result(result_id).model_copy(update={"delivery": Delivery(state=DeliveryState.PENDING, updated_at=T0)})
    token = await store.record_delivery(
        ref_of(order), pending, {}, {"body": {}}, _outcome_claim(), begin_send=True, durable=durable
    )
    assert token is not None
    return token


async def _delivered(store: SqlStore, order: AssessmentOrder, result_id: str, token: int) -> None:
    done = Delivery(state=DeliveryState.DELIVERED, attempts=1, sends=1, updated_at=T0, provider_status_code=200)
    stored = await store.finish_attempt(ref_of(order), result_id, done, None, "A", token)
    assert stored.state is DeliveryState.DELIVERED


async def test_an_attempts_outcome_does_not_wait_for_the_disk_and_is_synced_within_its_window(
    file_store: tuple[SqlStore, Path],
) -> None:
    store, _ = file_store
    writer = store.writer
    assert writer is not None
    order = make_order("o-sync")
    await store.upsert_order(order)
    # given a result recorded with its send begun: durable at COMMIT, nothing left to sync
    token = await _sent(store, order, "r-1")
    assert writer.unsynced == 0
    # when the attempt's outcome is stored, it is committed (readable) before it is on disk
    await _delivered(store, order, "r-1", token)
    assert writer.unsynced == 1
    stored = await store.get_delivery("r-1", T0)
    assert stored is not None and stored.result.delivery.state is DeliveryState.DELIVERED
    # then it is synced soon after without anyone asking (SYNC_WITHIN; polled, for a loaded machine)
    for _ in range(500):
        if writer.unsynced == 0:
            break
        await asyncio.sleep(0.01)
    assert writer.unsynced == 0
    # and at once by the next durable commit (FULL syncs the whole log, this outcome with it)
    await _delivered(store, order, "r-2", await _sent(store, order, "r-2"))
    assert writer.unsynced == 1
    await store.upsert_order(order)
    assert writer.unsynced == 0
    # and before any read of the live-event log: no event is announced that a power loss could undo
    await _delivered(store, order, "r-3", await _sent(store, order, "r-3"))
    assert writer.unsynced == 1
    await store.order_events_after(0, None)
    assert writer.unsynced == 0
    await _delivered(store, order, "r-4", await _sent(store, order, "r-4"))
    await store.last_order_event_seq()
    assert writer.unsynced == 0


async def test_the_writer_syncs_the_databases_write_ahead_log_after_each_durable_commit(
    file_store: tuple[SqlStore, Path],
) -> None:
    store, path = file_store
    writer = store.writer
    assert writer is not None
    # given the write connection (SQLite leaves the commit's sync to the writer: NORMAL, WAL)
    async with writer.transaction() as conn:
        assert (await conn.execute(text("PRAGMA synchronous"))).scalar() == 1
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
    # then the file it syncs is this database's write-ahead log, and nothing durable is left unsynced
    assert writer._wal is not None and Path(writer._wal) == Path(f"{path}-wal") and Path(writer._wal).exists()
    await store.upsert_order(make_order("o-durable"))
    assert writer.unsynced == 0


_CRASH_AFTER_OUTCOME = """
import asyncio, os, signal, sys
sys.path.insert(0, {root!r})
from store import create_store
from tests.store import test_sqlite_writer as t
from tests.store.store_samples import make_order

async def main():
    store = create_store("sqlite+aiosqlite:///" + {path!r})
    await store.migrate()
    order = make_order("o-crash")
    await store.upsert_order(order)
    await t._delivered(store, order, "r-1", await t._sent(store, order, "r-1", durable=False))
    print(store.writer.unsynced, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no close, no sync: the process is gone

asyncio.run(main())
"""


async def test_a_record_and_an_outcome_committed_without_the_sync_survive_a_process_crash(tmp_path: Path) -> None:
    path = str(tmp_path / "crash.db")
    root = str(Path(__file__).resolve().parents[2])
    script = _CRASH_AFTER_OUTCOME.format(root=root, path=path)
    # given a process killed (SIGKILL) right after a result was recorded as a mutation records it and
    # its outcome was committed, before anything synced either
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE, cwd=root)
    out, _ = await child.communicate()
    assert child.returncode == -9 and out.decode().strip() == "2", out
    # when the store is opened again, both are there (the log was in the system's cache)
    store = create_store(f"sqlite+aiosqlite:///{path}")
    try:
        stored = await store.get_delivery("r-1", T0)
        assert stored is not None and stored.result.delivery.state is DeliveryState.DELIVERED
    finally:
        await store.close()


async def test_reads_between_writes_use_the_write_connection(file_store: tuple[SqlStore, Path]) -> None:
    store, _ = file_store
    assert store.writer is not None and store.reader is not None
    # given an order just written
    order = make_order("o-idle")
    await store.upsert_order(order)
    # when it is read while no write transaction is open
    steps = _vm_steps(store.writer._conn.connection.driver_connection)  # type: ignore[union-attr,arg-type]
    found, _ = await store.order_and_latest_result(ref_of(order))
    # then the read ran on the write connection (its cache holds the pages just written), and the
    # loop's read connection was never opened
    assert found is not None and steps[0] > 0
    assert store.reader._inline is None


async def test_a_read_during_an_open_write_transaction_sees_only_committed_rows(
    file_store: tuple[SqlStore, Path],
) -> None:
    store, _ = file_store
    await store.upsert_order(make_order("o-committed"))
    inside = make_order("o-uncommitted")
    seen: list[object] = []
    # given a write transaction with an order written and not yet committed, waiting on the loop
    release = asyncio.Event()

    async def writer() -> None:
        async with store._tx() as conn:
            await store._upsert_in(conn, inside)
            await release.wait()

    task = asyncio.create_task(writer())
    await asyncio.sleep(0.05)
    # when another task reads meanwhile
    seen.append((await store.order_and_latest_result(ref_of(inside)))[0])
    seen.append((await store.order_and_latest_result(ref_of(make_order("o-committed"))))[0])
    release.set()
    await task
    # then it saw the committed order and not the open transaction's; after the commit it sees both
    assert seen[0] is None and seen[1] is not None
    assert (await store.order_and_latest_result(ref_of(inside)))[0] is not None


async def test_durable_commits_of_many_writers_all_return_synced_while_the_loop_serves(
    file_store: tuple[SqlStore, Path],
) -> None:
    store, _ = file_store
    writer = store.writer
    assert writer is not None

    async def writes(n: int) -> None:
        for i in range(40):
            before = writer._commits
            await store.upsert_order(make_order(f"o-{n}-{i}"))
            assert writer._synced > before  # (its own commit came after `before`: it is on disk)

    # when eight writers commit durably at once, each commit waiting for the sync thread (syncs begun
    # before a commit are followed by another; one that has just ended is never waited for again)
    await asyncio.wait_for(asyncio.gather(*(writes(n) for n in range(8))), timeout=120)
    # then every one of them returned, and everything is on disk
    assert writer.unsynced == 0
    page = await store.list_orders(OrderFilter(), first=400, sort=OrderSort.CREATED_AT_DESC)
    assert len(page.orders) == 320


def test_a_sync_that_has_just_ended_is_not_waited_for_again(tmp_path: Path) -> None:
    # A sync's future is done one loop step before its done-callbacks run: a caller arriving in between
    # must start a sync of its own, not wait on the finished one forever (which never yields to the
    # loop). Run on a thread of its own, so a regression fails the test instead of hanging the run.
    outcome: list[object] = []

    async def scenario() -> None:
        store = create_store(f"sqlite+aiosqlite:///{tmp_path / 'ended.db'}")
        await store.migrate()
        writer = store.writer
        assert writer is not None
        try:
            async with writer.transaction():  # a commit not on disk yet
                pass
            ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            ended.set_result(None)  # given a sync that covered less and has ended, its callback still due
            writer._running = ended
            await writer.synced()
            outcome.append(writer.unsynced)
        finally:
            await store.close()

    runner = threading.Thread(target=lambda: asyncio.run(scenario()), daemon=True)
    runner.start()
    runner.join(timeout=30)
    assert not runner.is_alive(), "synced() kept waiting on a sync that had ended"
    assert outcome == [0]
