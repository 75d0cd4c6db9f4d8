"""Recording orders that arrive from providers (sandbox seeding now; webhooks and polling later)."""

from __future__ import annotations

from collections.abc import Sequence

from providers.models import AssessmentOrder, OrderRef
from resolvers.context import AppContext


async def record_received_orders(
    ctx: AppContext, orders: Sequence[AssessmentOrder], *, replace: bool = True
) -> int:
    """Store orders; with `replace=False` orders already on record are left as they are.

    Returns how many orders were written.
    """
    if not replace:
        refs = [OrderRef(o.connection_id, o.provider_order_id) for o in orders]
        known = await ctx.store.get_orders(refs)
        orders = [o for o, ref in zip(orders, refs, strict=True) if ref not in known]
    for order in orders:
        await ctx.store.upsert_order(order)
    return len(orders)
