"""SQL building blocks: filter conditions, sort keys and keyset conditions, the page statements (built
once per shape, on bind parameters), and the row form of an order."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, Text, and_, bindparam, false, func, not_, or_, select
from sqlalchemy.sql.elements import BindParameter, UnaryExpression

from providers.models import AssessmentOrder, Candidate
from store.driver_sql import prebuilt
from store.interface import OrderFilter, OrderSort
from store.tables import orders

SEP = "\n"  # joins lower-cased candidate emails as "\na@x\nb@y\n", so an exact match is a substring
_c = orders.c


@dataclass(frozen=True)
class SortKey:
    """A sort: its column, direction and the name cursors carry."""

    name: str
    descending: bool

    @classmethod
    def of(cls, sort: OrderSort) -> SortKey:
        column, _, direction = sort.value.lower().rpartition("_")
        return cls(column, direction == "desc")

    @property
    def column(self) -> Any:
        return _c[self.name]

    def order_by(self, *, reverse: bool = False) -> tuple[UnaryExpression[Any], ...]:
        down = self.descending != reverse
        return tuple(col.desc() if down else col.asc() for col in (self.column, _c.id))

    def beyond(self, bound: str, *, after: bool) -> ColumnElement[bool]:
        """Rows strictly after (or strictly before) the position in the bind parameters `bound` +
        `_value` and `bound` + `_id` (`position_parameters`), in this sort's order."""
        value, order_id = _bound(self, bound)
        greater = after != self.descending
        # The leading range on the sort column alone lets both databases seek the (time, id) index
        # to the cursor instead of scanning it from the start.
        if greater:
            return and_(self.column >= value, or_(self.column > value, and_(self.column == value, _c.id > order_id)))
        return and_(self.column <= value, or_(self.column < value, and_(self.column == value, _c.id < order_id)))


def position_parameters(bound: str, position: tuple[datetime, str]) -> dict[str, Any]:
    """The bind parameter values of `SortKey.beyond(bound, ...)` for one position."""
    return {f"{bound}_value": position[0], f"{bound}_id": position[1]}


def _bound(key: SortKey, bound: str) -> tuple[BindParameter[Any], BindParameter[Any]]:
    # A statement may name the same bound several times (the window and `preceding`): one name, one value.
    return _param(f"{bound}_value", key.column.type), _param(f"{bound}_id", _c.id.type)


# A filter's shape: the names of the conditions it has. The conditions of one shape are built once
# with bind parameters (`filter_conditions`); each filter gives its own values (`filter_parameters`).
FilterShape = tuple[str, ...]
_LISTS = (("providers", _c.provider), ("connection_ids", _c.connection_id), ("statuses", _c.status),
          ("package_ids", _c.package_id))  # fmt: skip
_TIMES = (("created_after", _c.created_at, True), ("created_before", _c.created_at, False),
          ("updated_after", _c.updated_at, True), ("updated_before", _c.updated_at, False))  # fmt: skip
SHORT_LIST = 16  # lists up to this long are one bind parameter per value (`list_values`)
NOTHING = "nothing"  # a text condition that can match no row (PostgreSQL text cannot hold NUL)
LIKE_ESCAPE = "/"


def filter_parameters(f: OrderFilter) -> tuple[FilterShape, dict[str, Any]]:
    """The filter's shape and the values of its bind parameters. A list matches any of its values;
    an empty list (after leaving out values with NUL) matches nothing."""
    shape: list[str] = []
    values: dict[str, Any] = {}
    for name, _column in _LISTS:
        if getattr(f, name):
            shape.append(list_values(name, _texts(getattr(f, name)), values))
    for name, _column, _since in _TIMES:
        if getattr(f, name) is not None:
            shape.append(name)
            values[name] = getattr(f, name)
    for name, needle in (
        ("candidate_email", None if f.candidate_email is None else SEP + f.candidate_email.lower() + SEP),
        ("search", f.search.lower() if f.search else None),
    ):
        if needle is not None:
            shape.append(NOTHING if "\x00" in needle else name)
            if "\x00" not in needle:
                values[name] = like_escaped(needle)
    if f.refs is not None:
        shape.append(list_values("refs", [ref.encode() for ref in f.refs], values))
    return tuple(shape), values


def list_values(name: str, items: list[str], values: dict[str, Any]) -> str:
    """A short list is one parameter per value (`name:N`, parameters `name_0`...): SQLAlchemy renders
    an expanding parameter again on every execution. A longer one is one expanding parameter (`name`)."""
    if len(items) > SHORT_LIST:
        values[name] = items
        return name
    values.update((f"{name}_{i}", item) for i, item in enumerate(items))
    return f"{name}:{len(items)}"


def filter_conditions(shape: FilterShape) -> list[ColumnElement[bool]]:
    """The conditions of a filter shape, on bind parameters named as `filter_parameters` names them."""
    columns = {**dict(_LISTS), "refs": _c.id}
    times = {name: (column, since) for name, column, since in _TIMES}
    conditions: list[ColumnElement[bool]] = []
    for entry in shape:
        name, _, count = entry.partition(":")
        if name in columns:
            if count:
                items = [_param(f"{name}_{i}", columns[name].type) for i in range(int(count))]
                conditions.append(columns[name].in_(items) if items else false())
            else:
                conditions.append(columns[name].in_(_param(name, columns[name].type, expanding=True)))
        elif name in times:
            column, since = times[name]
            bound = _param(name, column.type)
            conditions.append(column >= bound if since else column < bound)
        elif name == "candidate_email":
            conditions.append(_contains(_c.candidate_emails, name))
        elif name == "search":
            conditions.append(or_(_contains(_c.candidate_name, name), _contains(_c.candidate_emails, name)))
        elif name == NOTHING:
            conditions.append(false())
        else:
            raise ValueError(f"unknown filter condition {name!r}")
    return conditions


def like_escaped(needle: str) -> str:
    """`needle` for `LIKE '%' || needle || '%' ESCAPE '/'`: an exact substring (SQLAlchemy's autoescape)."""
    return needle.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_")


def _param(name: str, type_: Any, *, expanding: bool = False) -> BindParameter[Any]:
    return bindparam(name, type_=type_, expanding=expanding)


def _texts(values: Iterable[str]) -> list[str]:
    # PostgreSQL text cannot hold NUL, so such a value can match nothing: leave it out of the IN list.
    return [str(value) for value in values if "\x00" not in value]


def _contains(column: Any, name: str) -> ColumnElement[bool]:
    return column.contains(_param(name, Text()), escape=LIKE_ESCAPE)  # type: ignore[no-any-return]


def order_row(order: AssessmentOrder, now: datetime) -> dict[str, Any]:
    """Column values for an order; a missing created_at becomes `now`, a missing updated_at created_at."""
    created = order.created_at or now
    return {
        "id": order.global_id,
        "connection_id": order.connection_id,
        "provider": order.provider.value,
        "provider_order_id": order.provider_order_id,
        "status": order.status.value,
        "package_id": order.package.id if order.package else None,
        "candidate_emails": candidate_emails(order.candidate),
        "candidate_name": candidate_name(order.candidate),
        "created_at": created,
        "updated_at": order.updated_at or created,
        "data": order.model_dump_json(),
    }


def candidate_emails(candidate: Candidate) -> str:
    return SEP + "".join(email.lower() + SEP for email in candidate.emails)


def candidate_name(candidate: Candidate) -> str:
    parts = (candidate.name, " ".join(p for p in (candidate.first_name, candidate.last_name) if p))
    return SEP.join(dict.fromkeys(p.lower() for p in parts if p))


@dataclass(frozen=True)
class PageShape:
    """What a page statement looks like: its sort, its filter's shape, which cursor bounds it has,
    its direction, whether it is capped (LIMIT) and whether it counts the matching rows."""

    key: SortKey
    filter: FilterShape
    start: bool
    end: bool
    backwards: bool
    capped: bool
    count_total: bool


@dataclass(frozen=True)
class PageStatements:
    """A page shape's statements: the window's rows (each carrying the summary columns), and the
    summary alone for an empty window (None when the shape has no summary column)."""

    rows: Select[Any]
    summary: Select[Any] | None


@functools.lru_cache(maxsize=256)
def page_statements(shape: PageShape) -> PageStatements:
    """Built once per shape, on bind parameters: the values come with each execution
    (`filter_parameters`, `position_parameters`, and `cap` when capped)."""
    key, base = shape.key, filter_conditions(shape.filter)
    window = ([key.beyond("start", after=True)] if shape.start else []) + (
        [key.beyond("end", after=False)] if shape.end else []
    )

    def any_row(*where: ColumnElement[bool]) -> ColumnElement[bool]:
        return select(_c.id).where(*base, *where).exists()

    extras: list[Any] = []
    if shape.count_total:
        extras.append(select(func.count()).select_from(orders).where(*base).scalar_subquery().label("total"))
    if shape.start:
        extras.append(any_row(not_(key.beyond("start", after=True))).label("preceding"))
    if shape.end:
        extras.append(any_row(not_(key.beyond("end", after=False))).label("following"))
    rows = (
        select(_c.id, _c.data, key.column.label("sort_value"), *extras)
        .where(*base, *window)
        .order_by(*key.order_by(reverse=shape.backwards))
    )
    if shape.capped:
        rows = rows.limit(bindparam("cap", type_=Integer()))
    return PageStatements(prebuilt(rows), prebuilt(select(*extras)) if extras else None)
