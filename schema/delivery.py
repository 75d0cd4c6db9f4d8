"""Deliveries in the API: the list by state, retry now, cancel, and the `Idempotency-Key` header."""

from __future__ import annotations

import strawberry
from strawberry.federation.schema_directives import Cost, ListSize
from strawberry.types import Info

from providers import models
from providers.bounds import MAX_KEY
from providers.errors import InvalidInputError
from resolvers import delivery
from schema.context import GraphQLContext
from schema.enums import DeliveryState
from schema.inputs import bounded_ids
from schema.types import AssessmentOrder, AssessmentResult, Delivery

# The scopes of schema/root.py (not imported: root imports this module).
READ_ORDERS, WRITE_RESULTS = "orders:read", "results:write"
RETRY_COST = 10  # like a mutation that calls a provider


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
    result: AssessmentResult
    order_id: strawberry.ID = strawberry.field(description="The global id of the result's order.")

    @strawberry.field(description="The delivery (same as result.delivery).")
    def delivery(self) -> Delivery:
        return self.result.delivery

    @strawberry.field(description="The result's order.")
    async def order(self, info: Info[GraphQLContext, None]) -> AssessmentOrder:
        return AssessmentOrder.from_domain(await info.context.orders.load(self.order_id))


@strawberry.type(description="A delivery in a list, with its cursor.")
class ResultDeliveryEdge:
    cursor: str
    found: strawberry.Private[ResultDelivery | Exception]

    @strawberry.field(description="The delivery; null, with a STORED_RECORD_UNREADABLE error, when its stored "
                      "result cannot be read (the other edges still come back).")
    def node(self) -> ResultDelivery | None:
        if isinstance(self.found, Exception):
            raise self.found
        return self.found


@strawberry.type(description="Forward paging of the deliveries list.")
class DeliveryPageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type(description="A page of deliveries, oldest first.")
class ResultDeliveryConnection:
    edges: list[ResultDeliveryEdge]
    page_info: DeliveryPageInfo
    total_count: int = strawberry.field(description="Deliveries matching the filter, over all pages.")


@strawberry.input(description="Which deliveries to list; lists mean any of, empty or absent means all.")
class DeliveryFilter:
    states: list[DeliveryState] | None = None
    connection_ids: list[strawberry.ID] | None = None


@strawberry.type(description="What `retryDelivery` or `cancelDelivery` did.")
class DeliveryPayload:
    order: AssessmentOrder
    result: AssessmentResult
    delivery: Delivery = strawberry.field(description="The delivery now (same as result.delivery).")

    @classmethod
    def from_domain(cls, view: delivery.DeliveryView) -> DeliveryPayload:
        result = AssessmentResult.from_domain(view.result)
        return cls(order=AssessmentOrder.from_domain(view.order), result=result, delivery=result.delivery)


@strawberry.type
class DeliveryQueries:
    @strawberry.federation.field(
        description="Recorded results by delivery state (e.g. RETRYING, FAILED), oldest first, at most 100 a page.",
        authenticated=True, requires_scopes=[[READ_ORDERS]],
        directives=[ListSize(slicing_arguments=["first"], sized_fields=["edges"], assumed_size=50,
                             require_one_slicing_argument=False)],
    )
    async def deliveries(
        self,
        info: Info[GraphQLContext, None],
        filter: DeliveryFilter | None = None,
        first: int = 50,
        after: str | None = None,
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


@strawberry.type
class DeliveryMutations:
    @strawberry.federation.mutation(
        description="Send a FAILED or RETRYING delivery now, without waiting for its next attempt. "
        "Answers like updateAssessmentResult; CONFLICT for other states or when a newer result exists.",
        authenticated=True, requires_scopes=[[WRITE_RESULTS]], directives=[Cost(weight=RETRY_COST)],
    )
    async def retry_delivery(self, info: Info[GraphQLContext, None], result_id: strawberry.ID) -> DeliveryPayload:
        return DeliveryPayload.from_domain(await delivery.retry_delivery(info.context.app, result_id))

    @strawberry.federation.mutation(
        description="Cancel a PENDING or RETRYING delivery; CONFLICT when it is being sent right now or is "
        "already delivered, failed or cancelled.",
        authenticated=True, requires_scopes=[[WRITE_RESULTS]],
    )
    async def cancel_delivery(self, info: Info[GraphQLContext, None], result_id: strawberry.ID) -> DeliveryPayload:
        return DeliveryPayload.from_domain(await delivery.cancel_delivery(info.context.app, result_id))
