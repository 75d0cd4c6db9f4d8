"""The Subscription root: live order events. Thin glue over resolvers/live.py."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from strawberry.types import Info

from resolvers import live
from schema.context import GraphQLContext
from schema.enums import AssessmentStatus, Provider
from schema.scalars import DateTime
from schema.types import AssessmentOrder
from store import OrderEventKind

READ_ORDERS = "orders:read"

AssessmentOrderEventKind = strawberry.enum(
    OrderEventKind, name="AssessmentOrderEventKind", description="What happened to an order."
)


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


@strawberry.type
class LiveQueries:
    @strawberry.federation.field(
        description="The position of the newest order event now. Subscribe to `assessmentOrderEvents` with it "
        "as `after` to receive every event from this moment on (read a list, then subscribe: no gap).",
        authenticated=True, requires_scopes=[[READ_ORDERS]],
    )
    async def assessment_order_event_cursor(self, info: Info[GraphQLContext, None]) -> str:
        app = info.context.app
        assert app.events is not None, "live events are not running"
        return await live.current_cursor(app.store, app.events)


@strawberry.type
class Subscription:
    @strawberry.federation.field(
        is_subscription=True,
        description="Order events of the client's connections: those after `after` first (within the "
        "retention window), then live, in order and without duplicates.",
        authenticated=True, requires_scopes=[[READ_ORDERS]],
    )
    async def assessment_order_events(
        self,
        info: Info[GraphQLContext, None],
        filter: AssessmentOrderEventFilter | None = None,
        after: str | None = None,
    ) -> AsyncGenerator[AssessmentOrderEvent, None]:
        app = info.context.app
        assert app.events is not None, "live events are not running"
        domain_filter = (filter or AssessmentOrderEventFilter()).to_domain()
        stream = live.subscribe(app.store, app.events, frozenset(app.connections), domain_filter, after)
        async for item in stream:
            yield AssessmentOrderEvent(
                kind=item.event.kind, order=AssessmentOrder.from_domain(item.order), at=item.event.at,
                cursor=item.cursor,
            )  # fmt: skip
