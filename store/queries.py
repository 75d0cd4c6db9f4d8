"""SQL building blocks: filter conditions, sort keys and keyset conditions, and the row form of an order."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_
from sqlalchemy.sql.elements import UnaryExpression

from providers.models import AssessmentOrder, Candidate
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

    def beyond(self, position: tuple[datetime, str], *, after: bool) -> ColumnElement[bool]:
        """Rows strictly after (or strictly before) a position in this sort's order."""
        value, order_id = position
        greater = after != self.descending
        # The leading range on the sort column alone lets both databases seek the (time, id) index
        # to the cursor instead of scanning it from the start.
        if greater:
            return and_(self.column >= value, or_(self.column > value, and_(self.column == value, _c.id > order_id)))
        return and_(self.column <= value, or_(self.column < value, and_(self.column == value, _c.id < order_id)))


def filter_conditions(f: OrderFilter) -> list[ColumnElement[bool]]:
    conditions = [
        _c[name].in_(_texts(values))
        for name, values in (
            ("provider", f.providers),
            ("connection_id", f.connection_ids),
            ("status", f.statuses),
            ("package_id", f.package_ids),
        )
        if values
    ]
    conditions += _time_conditions(f)
    if f.candidate_email is not None:
        conditions.append(_contains(_c.candidate_emails, SEP + f.candidate_email.lower() + SEP))
    if f.search:
        needle = f.search.lower()
        conditions.append(or_(_contains(_c.candidate_name, needle), _contains(_c.candidate_emails, needle)))
    if f.refs is not None:
        conditions.append(_c.id.in_([ref.encode() for ref in f.refs]))
    return conditions


def _time_conditions(f: OrderFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    for column, since, until in (
        (_c.created_at, f.created_after, f.created_before),
        (_c.updated_at, f.updated_after, f.updated_before),
    ):
        if since is not None:
            conditions.append(column >= since)
        if until is not None:
            conditions.append(column < until)
    return conditions


def _texts(values: Iterable[str]) -> list[str]:
    # PostgreSQL text cannot hold NUL, so such a value can match nothing: leave it out of the IN list.
    return [str(value) for value in values if "\x00" not in value]


def _contains(column: Any, needle: str) -> ColumnElement[bool]:
    if "\x00" in needle:
        return false()
    return column.contains(needle, autoescape=True)  # type: ignore[no-any-return]


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
