"""The Subscription root: live order events. Thin glue over resolvers/live.py."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from resolvers import live
from schema.context import GraphQLContext
from schema.enums import AssessmentStatus, Provider, described
from schema.scalars import DateTime
from schema.types import AssessmentOrder
from store import OrderEventKind

AssessmentOrderEventKind = described(OrderEventKind, "AssessmentOrderEventKind", "What happened to an order.", {
    "ORDER_RECEIVED": "The order first reached the service (signed webhook or Kombo sync).",
    "ORDER_UPDATED": "Intake changed a known order (a newer webhook, a Kombo sync, StackOne details filled in).",
    "RESULT_RECORDED": "updateAssessmentResult recorded a result for the order.",
    "DELIVERY_CHANGED": "A delivery of the order's result changed state.",
})  # fmt: skip


@strawberry.input(description="Which events to receive; every field is optional and the fields AND together.")
class AssessmentOrderEventFilter:
    providers: list[Provider] | None = strawberry.field(default=None, description="Only these providers.")
    connection_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Only these connections (of those the client may see)."
    )
    statuses: list[AssessmentStatus] | None = strawberry.field(
        default=None, description="Only events whose order had one of these statuses at the time."
    )
    kinds: list[AssessmentOrderEventKind] | None = strawberry.field(default=None, description="Only these kinds.")

    def to_domain(self) -> live.EventFilter:
        return live.EventFilter(
            providers=tuple(self.providers or ()), connection_ids=tuple(self.connection_ids or ()),
            statuses=tuple(self.statuses or ()), kinds=tuple(self.kinds or ()),
        )  # fmt: skip


@strawberry.type(description="A change of an order, pushed as it happens.")
class AssessmentOrderEvent:
    kind: AssessmentOrderEventKind = strawberry.field(description="What happened.")
    order: AssessmentOrder = strawberry.field(description="The order as it is now in the service's record.")
    at: DateTime = strawberry.field(description="When it happened.")
    cursor: str = strawberry.field(
        description="Opaque position of this event: pass it as `after` to resume after it."
    )


CURSOR_DESCRIPTION = (
    "The position of the newest order event now. Subscribe to `assessmentOrderEvents` with it as `after` to "
    "receive every event from this moment on (read a list, then subscribe: no gap)."
)
EVENTS_DESCRIPTION = (
    "Order events of the client's connections: those after `after` first (within the retention window), then "
    "live, in order and without duplicates."
)


async def assessment_order_event_cursor(info: Info[GraphQLContext, None]) -> str:
    app = info.context.app
    assert app.events is not None, "live events are not running"
    return await live.current_cursor(app.store, app.events)


async def assessment_order_events(
    info: Info[GraphQLContext, None],
    filter: Annotated[AssessmentOrderEventFilter | None, strawberry.argument(
        description="Which events; all of the client's when absent.")] = None,
    after: Annotated[str | None, strawberry.argument(
        description="The cursor of the last event received: resume right after it.")] = None,
) -> AsyncGenerator[AssessmentOrderEvent, None]:
    app = info.context.app
    assert app.events is not None, "live events are not running"
    domain_filter = (filter or AssessmentOrderEventFilter()).to_domain()
    stream = live.subscribe(app.store, app.events, frozenset(app.connections), domain_filter, after,
                            info.context.signals)  # fmt: skip
    async for item in stream:
        yield AssessmentOrderEvent(
            kind=item.event.kind, order=AssessmentOrder.from_domain(item.order), at=item.event.at,
            cursor=item.cursor,
        )  # fmt: skip


def build_subscription(read: dict[str, Any]) -> type:
    """The Subscription root; `read` are the access keyword arguments of orders:read."""

    @strawberry.type(description="Live order events, over graphql-transport-ws or graphql-sse.")
    class Subscription:
        assessment_order_events = strawberry.federation.field(
            assessment_order_events, is_subscription=True, description=EVENTS_DESCRIPTION, **read
        )

    return Subscription
