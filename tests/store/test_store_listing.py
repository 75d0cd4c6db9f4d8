"""Listing orders: every filter, both sort keys, keyset paging both ways, counts and cursors."""

from __future__ import annotations

import base64
from collections.abc import Sequence

import pytest

from providers.errors import InvalidInputError
from providers.models import Candidate, OrderRef, OrderStatus, ProviderName
from store import OrderFilter, OrderPage, OrderSort, SqlStore, sqlite_reads
from tests.store.store_samples import at, make_order

K, S, U = ProviderName.KOMBO, ProviderName.STACKONE, ProviderName.UNIFIED_TO
DATASET = [
    make_order("o-1", provider=K, status=OrderStatus.OPEN, package="pkg-1", created=at(1), updated=at(10),
               candidate=Candidate(name="Ada Lovelace", emails=("ada@example.com",))),
    make_order("o-2", provider=K, status=OrderStatus.COMPLETED, package="pkg-2", created=at(2), updated=at(5),
               candidate=Candidate(name="Grace Hopper", emails=("Grace@Navy.mil", "gh@example.org"))),
    make_order("o-3", connection_id="conn-b", provider=S, status=OrderStatus.OPEN, package="pkg-1",
               created=at(3), candidate=Candidate(first_name="Alan", last_name="Turing",
                                                  emails=("alan_t@example.com",))),
    make_order("o-4", connection_id="conn-b", provider=S, status=OrderStatus.CANCELLED, package=None,
               created=at(4), updated=at(20)),
    make_order("o-5", connection_id="conn-c", provider=U, status=OrderStatus.IN_PROGRESS, package="pkg-3",
               created=at(5), updated=at(6),
               candidate=Candidate(name="Ada Yonath", emails=("ADA.Y@weizmann.ac.il",))),
    make_order("o-6", connection_id="conn-c", provider=U, status=OrderStatus.OPEN, package="pkg-1",
               created=at(6), updated=at(7),
               candidate=Candidate(name="Percent 100%", emails=("p%x@example.com",))),
]  # fmt: skip
SORTED = {
    OrderSort.CREATED_AT_ASC: ["o-1", "o-2", "o-3", "o-4", "o-5", "o-6"],
    OrderSort.CREATED_AT_DESC: ["o-6", "o-5", "o-4", "o-3", "o-2", "o-1"],
    OrderSort.UPDATED_AT_ASC: ["o-3", "o-2", "o-5", "o-6", "o-1", "o-4"],  # o-3: updated_at falls back to created_at
    OrderSort.UPDATED_AT_DESC: ["o-4", "o-1", "o-6", "o-5", "o-2", "o-3"],
}


@pytest.fixture
async def seeded(store: SqlStore) -> SqlStore:
    for order in DATASET:
        await store.upsert_order(order)
    return store


def ids(page: OrderPage) -> list[str]:
    return [order.provider_order_id for order in page.orders]


@pytest.mark.parametrize(
    ("_case", "filter", "expected"),
    [
        ("no filter", OrderFilter(), {"o-1", "o-2", "o-3", "o-4", "o-5", "o-6"}),
        ("one provider", OrderFilter(providers=(K,)), {"o-1", "o-2"}),
        ("any of providers", OrderFilter(providers=(S, U)), {"o-3", "o-4", "o-5", "o-6"}),
        ("connection", OrderFilter(connection_ids=("conn-c",)), {"o-5", "o-6"}),
        ("NUL connection matches nothing", OrderFilter(connection_ids=("\x00none",)), set()),
        ("status", OrderFilter(statuses=(OrderStatus.OPEN,)), {"o-1", "o-3", "o-6"}),
        ("any of statuses", OrderFilter(statuses=(OrderStatus.COMPLETED, OrderStatus.CANCELLED)), {"o-2", "o-4"}),
        ("package", OrderFilter(package_ids=("pkg-1",)), {"o-1", "o-3", "o-6"}),
        ("created after is inclusive", OrderFilter(created_after=at(3)), {"o-3", "o-4", "o-5", "o-6"}),
        ("created before is exclusive", OrderFilter(created_before=at(3)), {"o-1", "o-2"}),
        ("created window", OrderFilter(created_after=at(2), created_before=at(5)), {"o-2", "o-3", "o-4"}),
        ("updated after", OrderFilter(updated_after=at(7)), {"o-1", "o-4", "o-6"}),
        ("updated before (fallback to created)", OrderFilter(updated_before=at(6)), {"o-2", "o-3"}),
        ("email ignores case", OrderFilter(candidate_email="GRACE@navy.mil"), {"o-2"}),
        ("email: any of the candidate's", OrderFilter(candidate_email="gh@example.org"), {"o-2"}),
        ("email is exact, not a substring", OrderFilter(candidate_email="example.com"), set()),
        ("email prefix is not a match", OrderFilter(candidate_email="ada@example.co"), set()),
        ("search in names and emails", OrderFilter(search="ADA"), {"o-1", "o-5"}),
        ("search in first/last name", OrderFilter(search="n tur"), {"o-3"}),
        ("search in email", OrderFilter(search="navy"), {"o-2"}),
        ("search % is literal", OrderFilter(search="%"), {"o-6"}),
        ("search _ is literal", OrderFilter(search="_"), {"o-3"}),
        ("refs restrict", OrderFilter(refs=(OrderRef("conn-a", "o-1"), OrderRef("conn-c", "o-5"))), {"o-1", "o-5"}),
        ("empty refs match nothing", OrderFilter(refs=()), set()),
        ("filters combine", OrderFilter(providers=(K,), statuses=(OrderStatus.OPEN,)), {"o-1"}),
        ("a long list", OrderFilter(connection_ids=tuple(f"conn-{n}" for n in range(40)) + ("conn-c",)), {"o-5", "o-6"}),
        ("a long list of refs", OrderFilter(refs=tuple(OrderRef("conn-b", f"o-{n}") for n in range(3, 30))), {"o-3", "o-4"}),
    ],
)
async def test_filter(_case: str, filter: OrderFilter, expected: set[str], seeded: SqlStore) -> None:
    page = await seeded.list_orders(filter, first=50)
    assert set(ids(page)) == expected
    assert page.total_count == len(expected)
    uncounted = await seeded.list_orders(filter, first=50, count_total=False)  # SQLite: read on the loop's thread
    assert (ids(uncounted), uncounted.total_count) == (ids(page), None)


async def test_a_small_read_over_its_budget_moves_to_the_pool(seeded: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    if seeded.reader is None:
        pytest.skip("SQLite files only")
    with seeded.statements() as tally:
        inline = await seeded.list_orders(OrderFilter(), first=5, count_total=False)
    assert tally.count == 1
    monkeypatch.setattr(sqlite_reads, "STEPS_PER_CALL", 1)
    seeded.reader.inline_steps = 0  # interrupted at its first step on the loop's thread, read again in the pool
    with seeded.statements() as tally:
        moved = await seeded.list_orders(OrderFilter(), first=5, count_total=False)
    assert tally.count == 2
    assert (ids(moved), moved.cursors, moved.has_next_page) == (ids(inline), inline.cursors, inline.has_next_page)


@pytest.mark.parametrize("sort", list(OrderSort))
async def test_sort(sort: OrderSort, seeded: SqlStore) -> None:
    page = await seeded.list_orders(OrderFilter(), first=50, sort=sort)
    assert ids(page) == SORTED[sort]
    assert (page.has_next_page, page.has_previous_page, len(page.cursors)) == (False, False, 6)


async def _pages_forward(store: SqlStore, sort: OrderSort, size: int) -> list[OrderPage]:
    pages = [await store.list_orders(OrderFilter(), first=size, sort=sort)]
    while pages[-1].has_next_page:
        pages.append(await store.list_orders(OrderFilter(), first=size, after=pages[-1].cursors[-1], sort=sort))
    return pages


async def _pages_backward(store: SqlStore, sort: OrderSort, size: int) -> list[OrderPage]:
    pages = [await store.list_orders(OrderFilter(), last=size, sort=sort)]
    while pages[-1].has_previous_page:
        pages.append(await store.list_orders(OrderFilter(), last=size, before=pages[-1].cursors[0], sort=sort))
    return pages


def _flags(pages: Sequence[OrderPage]) -> list[tuple[bool, bool, int]]:
    return [(p.has_previous_page, p.has_next_page, p.total_count) for p in pages]


@pytest.mark.parametrize("sort", list(OrderSort))
async def test_paging_forward(sort: OrderSort, seeded: SqlStore) -> None:
    pages = await _pages_forward(seeded, sort, 4)
    assert [ids(p) for p in pages] == [SORTED[sort][:4], SORTED[sort][4:]]
    assert _flags(pages) == [(False, True, 6), (True, False, 6)]


@pytest.mark.parametrize("sort", list(OrderSort))
async def test_paging_backward(sort: OrderSort, seeded: SqlStore) -> None:
    pages = await _pages_backward(seeded, sort, 4)
    assert [ids(p) for p in pages] == [SORTED[sort][2:], SORTED[sort][:2]]
    assert _flags(pages) == [(True, False, 6), (False, True, 6)]


async def test_paging_between_two_cursors_with_first_and_last(seeded: SqlStore) -> None:
    everything = await seeded.list_orders(OrderFilter(), first=50)
    after, before = everything.cursors[0], everything.cursors[5]
    page = await seeded.list_orders(OrderFilter(), first=3, last=2, after=after, before=before)
    assert ids(page) == ["o-4", "o-3"]  # window o-5..o-2, first 3 = o-5,o-4,o-3, last 2 of those
    assert (page.has_previous_page, page.has_next_page) == (True, True)


async def test_paging_is_stable_when_orders_arrive_between_pages(seeded: SqlStore) -> None:
    # given the first page, newest first
    first = await seeded.list_orders(OrderFilter(), first=2)
    assert ids(first) == ["o-6", "o-5"]
    # when orders arrive before, inside and after the rest of the list
    for name, minute in (("new", 100), ("mid", 3.5), ("old", 0)):
        await seeded.upsert_order(make_order(f"o-{name}", created=at(minute)))
    # then the next pages continue from the cursor, skipping nothing and repeating nothing
    second = await seeded.list_orders(OrderFilter(), first=2, after=first.cursors[-1])
    third = await seeded.list_orders(OrderFilter(), first=2, after=second.cursors[-1])
    fourth = await seeded.list_orders(OrderFilter(), first=2, after=third.cursors[-1])
    assert [ids(second), ids(third), ids(fourth)] == [["o-4", "o-mid"], ["o-3", "o-2"], ["o-1", "o-old"]]
    assert (fourth.has_next_page, fourth.total_count) == (False, 9)


async def test_equal_timestamps_page_by_id(store: SqlStore) -> None:
    for n in (3, 1, 4, 0, 2):
        await store.upsert_order(make_order(f"t-{n}", created=at(0)))
    forward = await _pages_forward(store, OrderSort.CREATED_AT_ASC, 2)
    backward = await _pages_backward(store, OrderSort.CREATED_AT_ASC, 2)
    in_id_order = sorted(OrderRef("conn-a", f"t-{n}").encode() for n in range(5))
    assert [o.global_id for p in forward for o in p.orders] == in_id_order
    assert [o.global_id for p in reversed(backward) for o in p.orders] == in_id_order


async def test_first_zero_counts_without_returning_orders(seeded: SqlStore) -> None:
    page = await seeded.list_orders(OrderFilter(), first=0)
    assert (page.orders, page.has_next_page, page.total_count) == ([], True, 6)


async def test_a_page_costs_one_query_an_empty_one_with_its_total_two(seeded: SqlStore) -> None:
    # a page with its total and both page flags is one round trip
    before = seeded.query_count
    page = await seeded.list_orders(OrderFilter(statuses=(OrderStatus.OPEN,)), first=2)
    assert seeded.query_count - before == 1 and len(page.orders) == 2 and page.total_count is not None
    # an empty page still answers its total (and whether rows lie before `after`) with a second statement
    after = page.cursors[-1]
    before = seeded.query_count
    empty = await seeded.list_orders(OrderFilter(statuses=(OrderStatus.OPEN,), search="no such name"), first=2, after=after)
    assert seeded.query_count - before == 2
    assert (empty.orders, empty.total_count, empty.has_next_page, empty.has_previous_page) == ([], 0, False, False)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize("field", ["after", "before"])
@pytest.mark.parametrize(
    ("_case", "cursor"),
    [
        ("not base64 json", "not-a-cursor"),
        ("empty", ""),
        ("non ascii", "é"),
        ("wrong shape", _b64("[1, 2]")),
        ("bad timestamp", _b64('["created_at", "yesterday", "x"]')),
        ("naive timestamp", _b64('["created_at", "2026-01-01T00:00:00", "x"]')),
        ("other sort key", _b64('["updated_at", "2026-01-01T00:00:00+00:00", "x"]')),
    ],
)
async def test_malformed_cursor_is_invalid_input(_case: str, cursor: str, field: str, seeded: SqlStore) -> None:
    with pytest.raises(InvalidInputError) as caught:
        await seeded.list_orders(OrderFilter(), first=2, **{field: cursor})
    assert caught.value.field == field


@pytest.mark.parametrize("field", ["first", "last"])
async def test_negative_page_size_is_invalid_input(field: str, seeded: SqlStore) -> None:
    with pytest.raises(InvalidInputError) as caught:
        await seeded.list_orders(OrderFilter(), **{field: -1})
    assert caught.value.field == field
