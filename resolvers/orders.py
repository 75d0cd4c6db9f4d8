"""Reading orders from the service's own record."""

from __future__ import annotations

from collections.abc import Sequence

from providers.bounds import MAX_PAGE
from providers.errors import InvalidInputError, OrderNotFoundError, StoredRecordUnreadableError
from providers.models import AssessmentOrder, AssessmentResult, OrderRef
from resolvers.context import AppContext
from store import OrderFilter, OrderPage, OrderSort


async def load_orders(
    ctx: AppContext, ids: Sequence[str]
) -> list[AssessmentOrder | OrderNotFoundError | Exception]:
    """Batch-load orders by global id, in order; a missing or malformed id yields its error."""
    refs: list[OrderRef | Exception] = []
    for global_id in ids:
        try:
            refs.append(OrderRef.parse(global_id))
        except Exception as exc:  # noqa: BLE001 - returned per item, as DataLoader expects
            refs.append(exc)
    wanted = [ref for ref in refs if isinstance(ref, OrderRef) and ref.connection_id in ctx.connections]
    found = await ctx.store.get_orders(wanted) if wanted else {}
    results: list[AssessmentOrder | OrderNotFoundError | Exception] = []
    for ref in refs:
        if isinstance(ref, Exception):
            results.append(ref)
        else:
            results.append(found.get(ref) or OrderNotFoundError("No such assessment order."))
    return results


async def load_results(
    ctx: AppContext, refs: Sequence[OrderRef]
) -> list[AssessmentResult | StoredRecordUnreadableError | None]:
    """Batch-load the latest result of each order; one that cannot be decoded yields its error."""
    found = await ctx.store.latest_results(list(refs))
    return [found.get(ref) for ref in refs]


async def list_orders(
    ctx: AppContext,
    filter: OrderFilter,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    sort: OrderSort,
    count_total: bool = True,
) -> OrderPage:
    """One page of the order record; only configured connections are visible. `count_total=False`
    leaves `total_count` out (None), sparing a read of every matching order."""
    for name, value in (("first", first), ("last", last)):
        if value is not None and not 0 <= value <= MAX_PAGE:
            raise InvalidInputError(f"{name} must be between 0 and {MAX_PAGE}.", field=name)
    if first is None and last is None:
        first = 20
    visible = tuple(ctx.connections)
    if filter.connection_ids:
        visible = tuple(c for c in filter.connection_ids if c in ctx.connections)
    scoped = filter.model_copy(update={"connection_ids": visible})
    if not visible:
        scoped = scoped.model_copy(update={"refs": ()})  # no configured connection asked for: nothing
    return await ctx.store.list_orders(
        scoped, first=first, after=after, last=last, before=before, sort=sort, count_total=count_total
    )


async def count_orders(ctx: AppContext, filter: OrderFilter) -> int:
    """How many orders of the visible connections match the filter."""
    page = await list_orders(ctx, filter, first=0, after=None, last=None, before=None, sort=OrderSort.CREATED_AT_DESC)
    assert page.total_count is not None
    return page.total_count
