"""Rich order reads end to end: every filter, each ordering, Relay paging, stable cursors, batching.

Expectations come from a plain-Python oracle over the orders the test stored, never from the store.
Each test runs on SQLite (a file) and on PostgreSQL (a throw-away database; skipped without a server).
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from app import Services, build_services, create_app
from providers.models import (
    AssessmentOrder,
    AssessmentResult,
    Candidate,
    Delivery,
    DeliveryState,
    OrderRef,
    OrderStatus,
    Package,
    ProviderName,
    ResultUpdate,
    Score,
)
from sandbox import Sandboxes
from server.settings import sandbox_settings
from store import OrderFilter, create_store
from tests.conftest import GraphQLClient
from tests.store.conftest import fresh_pg_database

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
CONNECTIONS = (
    ("sandbox-stackone", ProviderName.STACKONE),
    ("sandbox-kombo", ProviderName.KOMBO),
    ("sandbox-unified-to", ProviderName.UNIFIED_TO),
)
STATUSES = tuple(OrderStatus)
PACKAGES = ("pkg-a", "pkg-b", "pkg-c", "pkg-d")
PEOPLE = (
    Candidate(first_name="Ada", last_name="Lovelace", emails=("ada@example.com",)),
    Candidate(first_name="Grace", last_name="Hopper", emails=("grace.hopper@navy.example", "GH@Example.org")),
    Candidate(first_name="Alan", last_name="Turing", emails=("alan@example.com",)),
    Candidate(first_name="Katherine", last_name="Johnson"),
    Candidate(name="Edsger Dijkstra", emails=("ewd@example.nl",)),
)

LIST = """
query($filter: AssessmentOrderFilter, $first: Int, $after: String, $last: Int, $before: String,
      $orderBy: AssessmentOrderSort) {
  assessmentOrders(filter: $filter, first: $first, after: $after, last: $last, before: $before, orderBy: $orderBy) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id } }
  }
}
"""


def make_order(i: int, *, created: datetime | None = None, updated: datetime | None = None) -> AssessmentOrder:
    """The i-th sample order: every provider/status pair twice over 42 orders, created_at shared by pairs."""
    connection_id, provider = CONNECTIONS[i % len(CONNECTIONS)]
    return AssessmentOrder(
        connection_id=connection_id, provider=provider, provider_order_id=f"ord-{i:03d}",
        status=STATUSES[i % len(STATUSES)],
        package=None if i % 11 == 0 else Package(id=PACKAGES[i % len(PACKAGES)]),
        candidate=PEOPLE[i % len(PEOPLE)],
        created_at=created or T0 + timedelta(minutes=10 * (i // 2)),
        updated_at=updated or T0 + timedelta(days=1, minutes=5 * ((i * 37) % 42)),
    )  # fmt: skip


ORDERS = [make_order(i) for i in range(42)]


# --------------------------------------------------------------------------- the oracle


def sort_key(sort: str) -> Callable[[AssessmentOrder], tuple[datetime, str]]:
    column = "created_at" if sort.startswith("CREATED") else "updated_at"
    return lambda o: (getattr(o, column), o.global_id)


def in_order(orders: list[AssessmentOrder], sort: str = "CREATED_AT_DESC") -> list[str]:
    ranked = sorted(orders, key=sort_key(sort), reverse=sort.endswith("DESC"))
    return [o.global_id for o in ranked]


def searchable(o: AssessmentOrder) -> list[str]:
    c = o.candidate
    full = " ".join(p for p in (c.first_name, c.last_name) if p)
    return [t.lower() for t in (c.name, full, *c.emails) if t]


def at(minutes: int, days: int = 0) -> datetime:
    return T0 + timedelta(days=days, minutes=minutes)


Predicate = Callable[[AssessmentOrder], bool]
FILTERS: list[tuple[str, dict[str, Any], Predicate]] = [
    ("provider", {"providers": ["KOMBO"]}, lambda o: o.provider is ProviderName.KOMBO),
    ("providers-two", {"providers": ["KOMBO", "UNIFIED_TO"]}, lambda o: o.provider is not ProviderName.STACKONE),
    ("connection", {"connectionIds": ["sandbox-stackone"]}, lambda o: o.connection_id == "sandbox-stackone"),
    ("connections-with-unknown", {"connectionIds": ["sandbox-kombo", "nobody"]},
     lambda o: o.connection_id == "sandbox-kombo"),
    ("status", {"statuses": ["OPEN"]}, lambda o: o.status is OrderStatus.OPEN),
    ("statuses-three", {"statuses": ["COMPLETED", "FAILED", "EXPIRED"]},
     lambda o: o.status in (OrderStatus.COMPLETED, OrderStatus.FAILED, OrderStatus.EXPIRED)),
    ("package", {"packageIds": ["pkg-b"]}, lambda o: o.package is not None and o.package.id == "pkg-b"),
    ("packages-two", {"packageIds": ["pkg-a", "pkg-d"]},
     lambda o: o.package is not None and o.package.id in ("pkg-a", "pkg-d")),
    ("email-exact", {"candidateEmail": "ada@example.com"}, lambda o: "ada@example.com" in o.candidate.emails),
    ("email-any-case", {"candidateEmail": "gh@EXAMPLE.org"}, lambda o: "GH@Example.org" in o.candidate.emails),
    ("email-partial-is-no-match", {"candidateEmail": "ada@example"}, lambda o: False),
    ("search-last-name", {"search": "love"}, lambda o: any("love" in t for t in searchable(o))),
    ("search-upper-case", {"search": "HOPPER"}, lambda o: any("hopper" in t for t in searchable(o))),
    ("search-first-and-last", {"search": "ada love"}, lambda o: any("ada love" in t for t in searchable(o))),
    ("search-email", {"search": "navy.example"}, lambda o: any("navy.example" in t for t in searchable(o))),
    ("search-full-name-only", {"search": "dijk"}, lambda o: any("dijk" in t for t in searchable(o))),
    ("search-like-wildcard-is-literal", {"search": "a%e"}, lambda o: False),
    ("search-nothing", {"search": "zzz"}, lambda o: False),
    ("created-after-inclusive", {"createdAfter": at(100).isoformat()}, lambda o: o.created_at >= at(100)),
    ("created-before-exclusive", {"createdBefore": at(100).isoformat()}, lambda o: o.created_at < at(100)),
    ("created-range-offset", {"createdAfter": "2026-05-04T10:30:00+02:00", "createdBefore": "2026-05-04T09:50:00Z"},
     lambda o: at(30) <= o.created_at < at(110)),
    ("updated-after", {"updatedAfter": at(100, days=1).isoformat()}, lambda o: o.updated_at >= at(100, days=1)),
    ("updated-before", {"updatedBefore": at(50, days=1).isoformat()}, lambda o: o.updated_at < at(50, days=1)),
    ("combined-provider-status-search", {"providers": ["KOMBO"], "statuses": ["OPEN", "IN_PROGRESS", "FAILED"],
                                         "search": "a"},
     lambda o: o.provider is ProviderName.KOMBO and o.status in ("OPEN", "IN_PROGRESS", "FAILED")
     and any("a" in t for t in searchable(o))),
    ("combined-connection-package-times", {"connectionIds": ["sandbox-unified-to", "sandbox-stackone"],
                                           "packageIds": ["pkg-a", "pkg-c"], "createdAfter": at(40).isoformat(),
                                           "updatedBefore": at(150, days=1).isoformat()},
     lambda o: o.connection_id != "sandbox-kombo" and o.package is not None and o.package.id in ("pkg-a", "pkg-c")
     and o.created_at >= at(40) and o.updated_at < at(150, days=1)),
    ("combined-email-status", {"candidateEmail": "alan@example.com", "statuses": ["OPEN", "COMPLETED", "REJECTED"]},
     lambda o: "alan@example.com" in o.candidate.emails and o.status in ("OPEN", "COMPLETED", "REJECTED")),
    ("combined-everything", {"providers": ["STACKONE", "UNIFIED_TO"], "connectionIds": ["sandbox-stackone"],
                             "statuses": list(OrderStatus), "packageIds": list(PACKAGES),
                             "candidateEmail": "grace.hopper@navy.example", "search": "grace",
                             "createdAfter": at(0).isoformat(), "createdBefore": at(200).isoformat(),
                             "updatedAfter": at(0, days=1).isoformat(), "updatedBefore": at(300, days=1).isoformat()},
     lambda o: o.connection_id == "sandbox-stackone" and o.package is not None
     and "grace.hopper@navy.example" in o.candidate.emails and o.created_at < at(200)),
    ("combined-disjoint", {"providers": ["KOMBO"], "connectionIds": ["sandbox-stackone"]}, lambda o: False),
]  # fmt: skip
EMPTY_ON_PURPOSE = {
    "email-partial-is-no-match",
    "search-like-wildcard-is-literal",
    "search-nothing",
    "combined-disjoint",
}
SORTS = ("CREATED_AT_ASC", "CREATED_AT_DESC", "UPDATED_AT_ASC", "UPDATED_AT_DESC")


# --------------------------------------------------------------------------- fixtures


@dataclass
class Reads:
    """The app under test on an unseeded store holding exactly the orders the test put there."""

    services: Services
    gql: GraphQLClient
    orders: list[AssessmentOrder]

    async def add(self, *orders: AssessmentOrder) -> None:
        for order in orders:
            await self.services.store.upsert_order(order)
        self.orders += orders

    async def page(self, **variables: Any) -> dict[str, Any]:
        body = await self.gql(LIST, variables)
        assert "errors" not in body, body
        page: dict[str, Any] = body["data"]["assessmentOrders"]
        return page


def ids(page: dict[str, Any]) -> list[str]:
    return [edge["node"]["id"] for edge in page["edges"]]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'reads.db'}"
        return
    async with fresh_pg_database("reads_test") as url:
        yield url


@pytest.fixture
async def reads(database_url: str, sandboxes: Sandboxes) -> AsyncIterator[Reads]:
    built = await build_services(
        sandbox_settings(database_url), store=create_store(database_url), sandboxes=sandboxes, seed=False
    )
    transport = httpx.ASGITransport(app=create_app(built))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
        state = Reads(built, GraphQLClient(http), [])
        await state.add(*ORDERS)
        yield state
    await built.aclose()


# --------------------------------------------------------------------------- filters and orderings


@pytest.mark.parametrize(("_case", "filter_", "keep"), FILTERS, ids=[case[0] for case in FILTERS])
async def test_each_filter_alone_and_combined_returns_exactly_its_orders(
    _case: str, filter_: dict[str, Any], keep: Predicate, reads: Reads
) -> None:
    # given 42 orders across providers, statuses, packages, candidates and times
    expected = in_order([o for o in ORDERS if keep(o)])
    assert (len(expected) == 0) == (_case in EMPTY_ON_PURPOSE) and len(expected) < len(ORDERS)
    # when the list is asked for with the filter
    page = await reads.page(filter=filter_, first=100)
    # then exactly the matching orders come back, newest first, all counted
    assert ids(page) == expected
    assert page["totalCount"] == len(expected)
    assert page["pageInfo"]["hasNextPage"] is False


@pytest.mark.parametrize("_case", SORTS)
async def test_each_ordering_sorts_by_its_time_then_by_id(_case: str, reads: Reads) -> None:
    page = await reads.page(orderBy=_case, first=100)
    assert ids(page) == in_order(ORDERS, _case)
    assert page["totalCount"] == len(ORDERS)


async def test_default_ordering_is_newest_created_first(reads: Reads) -> None:
    page = await reads.page(first=100)
    assert ids(page) == in_order(ORDERS, "CREATED_AT_DESC") != in_order(ORDERS, "UPDATED_AT_DESC")


async def test_total_count_is_over_all_pages_of_the_filter(reads: Reads) -> None:
    kombo = [o for o in ORDERS if o.provider is ProviderName.KOMBO]
    first = await reads.page(filter={"providers": ["KOMBO"]}, first=3)
    second = await reads.page(filter={"providers": ["KOMBO"]}, first=3, after=first["pageInfo"]["endCursor"])
    assert [first["totalCount"], second["totalCount"]] == [len(kombo), len(kombo)] == [14, 14]
    assert ids(first) + ids(second) == in_order(kombo)[:6]
    empty = await reads.page(filter={"providers": ["KOMBO"]}, first=0)
    assert (ids(empty), empty["totalCount"], empty["pageInfo"]["hasNextPage"]) == ([], 14, True)


TOTAL_BY_FRAGMENTS = """
fragment Counted on AssessmentOrderConnection { totalCount }
query($kombo: AssessmentOrderFilter) {
  named: assessmentOrders(first: 1, filter: $kombo) { ...Counted }
  inline: assessmentOrders(first: 1, filter: $kombo) { ... on AssessmentOrderConnection { totalCount } }
  plain: assessmentOrders(first: 1, filter: $kombo) { edges { cursor } }
}
"""


async def test_total_count_is_counted_only_when_asked_for_and_through_fragments(reads: Reads) -> None:
    kombo = {"providers": ["KOMBO"]}
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement.lower())

    engines = reads.services.store.sync_engines  # type: ignore[attr-defined]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", seen)
    try:
        body = await reads.gql(TOTAL_BY_FRAGMENTS, {"kombo": kombo})
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", seen)
    data = body["data"]
    assert (data["named"]["totalCount"], data["inline"]["totalCount"]) == (14, 14)
    assert len(data["plain"]["edges"]) == 1
    # one statement for each of the three lists; the total is folded into the rows of the two that ask
    assert len(statements) == 3 and sorted(s.count("count(*)") for s in statements) == [0, 1, 1]
    counted = await reads.services.store.list_orders(OrderFilter(providers=(ProviderName.KOMBO,)), first=1)
    skipped = await reads.services.store.list_orders(
        OrderFilter(providers=(ProviderName.KOMBO,)), first=1, count_total=False
    )
    assert (counted.total_count, skipped.total_count) == (14, None)
    assert skipped.model_copy(update={"total_count": 14}) == counted


# --------------------------------------------------------------------------- paging


@pytest.mark.parametrize("_case", SORTS)
async def test_forward_pages_cover_every_order_once_in_order(_case: str, reads: Reads) -> None:
    seen, after, pages = [], None, []
    while True:
        page = await reads.page(
            orderBy=_case, first=8, after=after, filter={"statuses": ["OPEN", "FAILED", "EXPIRED", "COMPLETED"]}
        )
        seen += ids(page)
        pages.append(page["pageInfo"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    wanted = [o for o in ORDERS if o.status in ("OPEN", "FAILED", "EXPIRED", "COMPLETED")]
    assert seen == in_order(wanted, _case) and len(seen) == 24
    assert [p["hasPreviousPage"] for p in pages] == [False, True, True]
    assert [p["hasNextPage"] for p in pages] == [True, True, False]


@pytest.mark.parametrize("_case", SORTS)
async def test_backward_pages_cover_every_order_once_in_order(_case: str, reads: Reads) -> None:
    seen: list[str] = []
    before, pages = None, []
    while True:
        page = await reads.page(orderBy=_case, last=10, before=before)
        seen = ids(page) + seen
        pages.append(page["pageInfo"])
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        before = page["pageInfo"]["startCursor"]
    assert seen == in_order(ORDERS, _case)
    assert [p["hasPreviousPage"] for p in pages] == [True, True, True, True, False]
    assert [p["hasNextPage"] for p in pages] == [False, True, True, True, True]


async def test_edge_cursors_resume_from_their_own_order(reads: Reads) -> None:
    whole = await reads.page(orderBy="UPDATED_AT_ASC", first=20)
    middle = whole["edges"][9]["cursor"]
    after = await reads.page(orderBy="UPDATED_AT_ASC", first=5, after=middle)
    before = await reads.page(orderBy="UPDATED_AT_ASC", last=5, before=middle)
    assert ids(after) == ids(whole)[10:15]
    assert ids(before) == ids(whole)[4:9]
    both = await reads.page(orderBy="UPDATED_AT_ASC", first=100, after=whole["edges"][2]["cursor"], before=middle)
    assert ids(both) == ids(whole)[3:9]


def _inserted_between_pages(step: int, position: AssessmentOrder) -> list[AssessmentOrder]:
    """Orders at both ends of the time range and tied with the page boundary's own time."""
    n = 500 + 10 * step
    return [
        make_order(n, created=at(-100 - step), updated=at(-100 - step)),
        make_order(n + 1, created=at(10_000 + step), updated=at(10_000 + step, days=1)),
        make_order(n + 2, created=position.created_at, updated=position.updated_at),
        make_order(n + 3, created=position.created_at, updated=position.updated_at),
        make_order(n + 4, created=position.created_at, updated=position.updated_at),
    ]


@pytest.mark.parametrize(("_case", "sort", "backwards"), [
    ("forward-created-desc", "CREATED_AT_DESC", False), ("forward-updated-asc", "UPDATED_AT_ASC", False),
    ("backward-created-asc", "CREATED_AT_ASC", True), ("backward-updated-desc", "UPDATED_AT_DESC", True),
])  # fmt: skip
async def test_cursors_survive_inserts_between_pages(_case: str, sort: str, backwards: bool, reads: Reads) -> None:
    # given a reader paging through the list while new orders keep arriving at both ends and at its position
    key, descending = sort_key(sort), sort.endswith("DESC")
    by_id = {o.global_id: o for o in ORDERS}
    at_start, seen, cursor, owed = set(by_id), [], None, set()
    for step in range(100):
        args = {"last": 6, "before": cursor} if backwards else {"first": 6, "after": cursor}
        page = await reads.page(orderBy=sort, **args)
        got = ids(page)
        seen = got + seen if backwards else seen + got
        more = page["pageInfo"]["hasPreviousPage" if backwards else "hasNextPage"]
        if not more:
            break
        cursor = page["pageInfo"]["startCursor" if backwards else "endCursor"]
        boundary = by_id[got[0] if backwards else got[-1]]
        new = _inserted_between_pages(step, boundary)
        await reads.add(*new)
        by_id.update({o.global_id: o for o in new})
        # the reader has yet to see exactly those new orders that lie beyond its position
        ahead = [o for o in new if (key(o) < key(boundary)) == (descending != backwards)]
        owed |= {o.global_id for o in ahead}
    # then nothing repeats, nothing present at the start is skipped, every order beyond the cursor is seen
    assert len(seen) == len(set(seen))
    assert at_start <= set(seen)
    assert owed <= set(seen) and owed
    assert set(seen) - at_start == owed
    assert seen == sorted(seen, key=lambda i: key(by_id[i]), reverse=descending)


@pytest.mark.parametrize(("_case", "variables"), [
    ("garbage-after", {"first": 5, "after": "not a cursor!"}),
    ("not-json-after", {"first": 5, "after": base64.urlsafe_b64encode(b"hello").decode()}),
    ("wrong-shape-after", {"first": 5, "after": base64.urlsafe_b64encode(b'{"a": 1}').decode()}),
    ("naive-time-after", {"first": 5, "after": base64.urlsafe_b64encode(
        json.dumps(["created_at", "2026-05-04T08:00:00", "x"]).encode()).decode()}),
    ("other-ordering-after", {"first": 5, "orderBy": "UPDATED_AT_DESC", "after": "<created cursor>"}),
    ("garbage-before", {"last": 5, "before": "%%%"}),
    ("other-ordering-before", {"last": 5, "orderBy": "UPDATED_AT_ASC", "before": "<created cursor>"}),
])  # fmt: skip
async def test_a_malformed_cursor_is_bad_user_input(_case: str, variables: dict[str, Any], reads: Reads) -> None:
    created_cursor = (await reads.page(first=1))["pageInfo"]["endCursor"]
    variables = {k: created_cursor if v == "<created cursor>" else v for k, v in variables.items()}
    body = await reads.gql(LIST, variables)
    assert body["data"] is None
    field = "after" if "after" in variables else "before"
    assert [e["extensions"] for e in body["errors"]] == [{"code": "BAD_USER_INPUT", "field": field}]


# --------------------------------------------------------------------------- batching


def _result(n: int) -> AssessmentResult:
    update = ResultUpdate(status=OrderStatus.COMPLETED, score=Score(value=n))
    delivered = Delivery(state=DeliveryState.DELIVERED, attempts=1, updated_at=T0)
    return AssessmentResult(id=f"result-{n}", update=update, submitted_at=at(n), delivery=delivered)


async def _hundred_orders_with_results(reads: Reads) -> list[AssessmentOrder]:
    """58 more orders (100 in all); every third order gets two results, the later one is its latest."""
    await reads.add(*(make_order(i) for i in range(42, 100)))
    newest = in_order(reads.orders)
    for n, global_id in enumerate(newest[::3]):
        ref = OrderRef.parse(global_id)
        await reads.services.store.record_delivery(ref, _result(n), {}, {"body": {}}, None)
        await reads.services.store.record_delivery(ref, _result(1000 + n), {}, {"body": {}}, None)
    return reads.orders


NESTED_PAGE = """
{ assessmentOrders(first: 100) { totalCount edges { node { id result { id score { value } delivery { state } } } } } }
"""
ENTITIES = """
query($r: [_Any!]!) {
  _entities(representations: $r) { ... on AssessmentOrder { id status result { id score { value } } } }
}
"""


async def test_a_page_of_100_with_results_costs_the_list_plus_one_query(reads: Reads) -> None:
    # given 100 orders, a third of them with results
    orders = await _hundred_orders_with_results(reads)
    expected = in_order(orders)
    # when a page of all 100 is read with each order's result
    with reads.services.store.statements() as tally:
        body = await reads.gql(NESTED_PAGE)
    # then the list costs one statement (rows with their counts) and all results one more
    assert tally.count == 1 + 1
    edges = body["data"]["assessmentOrders"]["edges"]
    assert [e["node"]["id"] for e in edges] == expected and body["data"]["assessmentOrders"]["totalCount"] == 100
    results = [e["node"]["result"] for e in edges]
    assert [r and r["id"] for r in results[::3]] == [f"result-{1000 + n}" for n in range(34)]
    assert [r for i, r in enumerate(results) if i % 3] == [None] * 66
    assert results[3] == {"id": "result-1001", "score": {"value": 1001.0}, "delivery": {"state": "DELIVERED"}}


async def test_entities_for_100_representations_cost_one_query_plus_one(reads: Reads) -> None:
    # given 100 orders, a third of them with results, asked for as entities in an order of their own
    orders = await _hundred_orders_with_results(reads)
    newest = in_order(orders)
    wanted = newest[1::2] + newest[::2]
    reps = [{"__typename": "AssessmentOrder", "id": global_id} for global_id in wanted]
    # when a gateway resolves them
    with reads.services.store.statements() as tally:
        body = await reads.gql(ENTITIES, {"r": reps})
    # then one query reads the orders and one their results
    assert tally.count == 1 + 1
    assert "errors" not in body
    entities = body["data"]["_entities"]
    assert [e["id"] for e in entities] == wanted and len(wanted) == 100
    by_id = {o.global_id: o for o in orders}
    assert [e["status"] for e in entities] == [by_id[i].status.value for i in wanted]
    latest = {gid: f"result-{1000 + n}" for n, gid in enumerate(newest[::3])}
    assert [e["result"] and e["result"]["id"] for e in entities] == [latest.get(i) for i in wanted]
