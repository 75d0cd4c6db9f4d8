"""The store's contract: one small async Protocol plus the query types it takes and returns."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from providers.models import (
    AssessmentOrder,
    AssessmentResult,
    Delivery,
    OrderRef,
    OrderStatus,
    ProviderName,
)


class OrderSort(StrEnum):
    """Orderings of an order list; ties are broken by the order's global id."""

    CREATED_AT_ASC = "CREATED_AT_ASC"
    CREATED_AT_DESC = "CREATED_AT_DESC"
    UPDATED_AT_ASC = "UPDATED_AT_ASC"
    UPDATED_AT_DESC = "UPDATED_AT_DESC"


class OrderFilter(BaseModel):
    """Which orders a list returns. Every field is optional; a tuple means "any of"; fields AND together.

    `created_after`/`updated_after` are inclusive, `created_before`/`updated_before` exclusive.
    `refs=None` means no restriction; `refs=()` matches nothing.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    providers: tuple[ProviderName, ...] = ()
    connection_ids: tuple[str, ...] = ()
    statuses: tuple[OrderStatus, ...] = ()
    package_ids: tuple[str, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    candidate_email: str | None = None
    search: str | None = None
    refs: tuple[OrderRef, ...] | None = None


class OrderPage(BaseModel):
    """One page of orders with one opaque cursor per order (Relay connection semantics)."""

    model_config = ConfigDict(frozen=True)

    orders: list[AssessmentOrder]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool
    total_count: int


class Store(Protocol):
    """Persistence of orders and results. Raises `InvalidInputError` for malformed cursors or counts."""

    query_count: int  # SQL statements executed since creation

    async def migrate(self) -> None: ...

    async def close(self) -> None: ...

    async def upsert_order(self, order: AssessmentOrder) -> None: ...

    async def get_orders(self, refs: Sequence[OrderRef]) -> dict[OrderRef, AssessmentOrder]: ...

    async def list_orders(
        self,
        filter: OrderFilter,
        *,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        sort: OrderSort = OrderSort.CREATED_AT_DESC,
    ) -> OrderPage: ...

    async def record_result(
        self, ref: OrderRef, result: AssessmentResult, request_body: dict[str, Any]
    ) -> None:
        """Insert a result with its delivery; `OrderNotFoundError` when the order is not stored."""

    async def finish_delivery(
        self, ref: OrderRef, result_id: str, delivery: Delivery, order: AssessmentOrder | None
    ) -> None:
        """Update a delivery and optionally replace the order, atomically; `LookupError` if no such result."""

    async def latest_results(self, refs: Sequence[OrderRef]) -> dict[OrderRef, AssessmentResult]: ...

    async def get_result(self, result_id: str) -> AssessmentResult | None: ...
