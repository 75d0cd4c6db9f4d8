"""Deliveries in the API: the list by state, retry now, cancel, and the `Idempotency-Key` header."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from providers import models
from providers.bounds import MAX_KEY
from providers.errors import InvalidInputError
from resolvers import delivery
from schema.context import GraphQLContext
from schema.enums import DeliveryState
from schema.inputs import bounded_ids
from schema.types import AssessmentOrder, AssessmentResult, Delivery


def idempotency_header(info: Info[GraphQLContext, None]) -> str | None:
    """The request's `Idempotency-Key` header (used when the input has no idempotencyKey)."""
    headers = getattr(info.context.request, "headers", None)
    value = headers.get("idempotency-key") if headers is not None else None
    if value is None or not value.strip():
        return None
    if len(value) > MAX_KEY:
        raise InvalidInputError(f"Idempotency-Key is longer than {MAX_KEY} characters.", field="idempotencyKey")
    return value.strip()


@strawberry.type(description="A recorded result with its delivery, as the deliveries list shows it.")
class ResultDelivery:
    result: AssessmentResult = strawberry.field(description="The recorded result.")
    order_id: strawberry.ID = strawberry.field(description="The global id of the result's order.")

    @strawberry.field(description="The delivery (same as result.delivery).")
    def delivery(self) -> Delivery:
        return self.result.delivery

    @strawberry.field(description="The result's order.")
    async def order(self, info: Info[GraphQLContext, None]) -> AssessmentOrder:
        return AssessmentOrder.from_domain(await info.context.orders.load(self.order_id))


@strawberry.type(description="A delivery in a list, with its cursor.")
class ResultDeliveryEdge:
    cursor: str = strawberry.field(description="Opaque cursor of this delivery, for `after`.")
    found: strawberry.Private[ResultDelivery | Exception]

    @strawberry.field(description="The result with its delivery; null, with a STORED_RECORD_UNREADABLE error, "
                      "when its stored result cannot be read (the other edges still come back).")  # fmt: skip
    def node(self) -> ResultDelivery | None:
        if isinstance(self.found, Exception):
            raise self.found
        return self.found


@strawberry.type(description="Forward paging of the deliveries list.")
class DeliveryPageInfo:
    has_next_page: bool = strawberry.field(description="Whether more deliveries follow this page.")
    end_cursor: str | None = strawberry.field(description="The cursor of the page's last delivery.")


@strawberry.type(description="A page of deliveries, oldest first.")
class ResultDeliveryConnection:
    edges: list[ResultDeliveryEdge] = strawberry.field(description="The deliveries of this page.")
    page_info: DeliveryPageInfo = strawberry.field(description="Paging information.")
    total_count: int = strawberry.field(description="Deliveries matching the filter, over all pages.")


@strawberry.input(description="Which deliveries to list; lists mean any of, empty or absent means all.")
class DeliveryFilter:
    states: list[DeliveryState] | None = strawberry.field(default=None, description="Only these delivery states.")
    connection_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Only results of orders of these connections."
    )


@strawberry.type(description="What `retryDelivery` or `cancelDelivery` did.")
class DeliveryPayload:
    order: AssessmentOrder = strawberry.field(description="The result's order.")
    result: AssessmentResult = strawberry.field(description="The result whose delivery was retried or cancelled.")
    delivery: Delivery = strawberry.field(description="The delivery now (same as result.delivery).")

    @classmethod
    def from_domain(cls, view: delivery.DeliveryView) -> DeliveryPayload:
        result = AssessmentResult.from_domain(view.result)
        return cls(order=AssessmentOrder.from_domain(view.order), result=result, delivery=result.delivery)


ResultId = Annotated[strawberry.ID, strawberry.argument(description="The result's id (AssessmentResult.id).")]


async def deliveries(
    info: Info[GraphQLContext, None],
    filter: Annotated[DeliveryFilter | None, strawberry.argument(description="Which deliveries; all when absent.")] = None,
    first: Annotated[int, strawberry.argument(description="Page size, at most 100.")] = 50,
    after: Annotated[str | None, strawberry.argument(description="The endCursor of the previous page.")] = None,
) -> ResultDeliveryConnection:
    wanted = filter or DeliveryFilter()
    bounded_ids(wanted.connection_ids, "connectionIds")
    states = tuple(models.DeliveryState(s) for s in wanted.states or ())
    page = await delivery.list_deliveries(
        info.context.app, states, tuple(wanted.connection_ids or ()), first=first, after=after
    )
    edges = [
        ResultDeliveryEdge(cursor=cursor, found=r if isinstance(r, Exception) else ResultDelivery(
            result=AssessmentResult.from_domain(r.result), order_id=strawberry.ID(r.ref.encode())))
        for r, cursor in zip(page.records, page.cursors, strict=True)
    ]  # fmt: skip
    end = page.cursors[-1] if page.cursors else None
    info_ = DeliveryPageInfo(has_next_page=page.has_next_page, end_cursor=end)
    return ResultDeliveryConnection(edges=edges, page_info=info_, total_count=page.total_count)


async def retry_delivery(info: Info[GraphQLContext, None], result_id: ResultId) -> DeliveryPayload:
    return DeliveryPayload.from_domain(await delivery.retry_delivery(info.context.app, result_id))


async def cancel_delivery(info: Info[GraphQLContext, None], result_id: ResultId) -> DeliveryPayload:
    return DeliveryPayload.from_domain(await delivery.cancel_delivery(info.context.app, result_id))
