"""Query and Mutation roots and the federation schema. Each field is thin glue."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.federation.schema_directives import Cost, ListSize
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info
from strawberry.types.nodes import SelectedField

from resolvers import orders, results, sync
from schema.context import GraphQLContext
from schema.delivery import DeliveryMutations, DeliveryQueries, idempotency_header
from schema.enums import AssessmentOrderSort
from schema.errors import CodedErrors
from schema.inputs import AssessmentOrderFilter, UpdateAssessmentResultInput
from schema.live import LiveQueries, Subscription
from schema.scalars import SCALAR_MAP
from schema.sync import SyncConnectionPayload
from schema.types import AssessmentOrder, AssessmentResult, Delivery, TranslationWarning
from store import OrderSort

SDL_PATH = Path(__file__).with_name("schema.graphql")
# Scopes a client needs (SDL @requiresScopes; the HTTP edge enforces them too).
READ_ORDERS = "orders:read"
WRITE_RESULTS = "results:write"
MUTATION_COST = 10  # @cost of a mutation that calls a provider (objects cost 1, scalars 0)


@strawberry.type(description="An order in a list, with its cursor.")
class AssessmentOrderEdge:
    cursor: str
    node: AssessmentOrder


@strawberry.type(description="Relay page information.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type(description="A page of assessment orders.")
class AssessmentOrderConnection:
    edges: list[AssessmentOrderEdge]
    page_info: PageInfo
    known_total: strawberry.Private[int | None]
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="Orders matching the filter, over all pages.")
    async def total_count(self) -> int:
        return self.known_total if self.known_total is not None else await self.count()


@strawberry.type(description="What `updateAssessmentResult` did.")
class UpdateAssessmentResultPayload:
    order: AssessmentOrder = strawberry.field(description="The order merged with the provider's answer.")
    result: AssessmentResult
    delivery: Delivery = strawberry.field(description="The delivery outcome (same as result.delivery).")
    warnings: list[TranslationWarning] = strawberry.field(
        description="Every translation that changed, moved or approximated a value."
    )


@strawberry.type
class Query(DeliveryQueries, LiveQueries):
    @strawberry.federation.field(
        description="One order by its global id; null when it does not exist.",
        authenticated=True, requires_scopes=[[READ_ORDERS]],
    )
    async def assessment_order(
        self, info: Info[GraphQLContext, None], id: strawberry.ID
    ) -> AssessmentOrder | None:
        found = (await orders.load_orders(info.context.app, [id]))[0]
        if isinstance(found, Exception):
            if getattr(found, "code", None) == "NOT_FOUND":
                return None
            raise found
        return AssessmentOrder.from_domain(found)

    @strawberry.federation.field(
        description="Orders from every connection, newest first by default.",
        authenticated=True, requires_scopes=[[READ_ORDERS]],
        # Demand control (IBM cost spec): a page's size is its `first`/`last`, and it sizes `edges`.
        directives=[ListSize(slicing_arguments=["first", "last"], sized_fields=["edges"], assumed_size=20,
                             require_one_slicing_argument=False)],
    )
    async def assessment_orders(
        self,
        info: Info[GraphQLContext, None],
        filter: AssessmentOrderFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        order_by: AssessmentOrderSort = OrderSort.CREATED_AT_DESC,
    ) -> AssessmentOrderConnection:
        domain_filter = (filter or AssessmentOrderFilter()).to_domain()
        ctx = info.context.app
        page = await orders.list_orders(
            ctx, domain_filter, first=first, after=after, last=last, before=before,
            sort=order_by, count_total=selects(info, "totalCount"),
        )  # fmt: skip
        edges = [
            AssessmentOrderEdge(cursor=c, node=AssessmentOrder.from_domain(o))
            for o, c in zip(page.orders, page.cursors, strict=True)
        ]
        info_ = PageInfo(
            has_next_page=page.has_next_page, has_previous_page=page.has_previous_page,
            start_cursor=page.cursors[0] if page.cursors else None,
            end_cursor=page.cursors[-1] if page.cursors else None,
        )  # fmt: skip
        return AssessmentOrderConnection(
            edges=edges, page_info=info_, known_total=page.total_count,
            count=lambda: orders.count_orders(ctx, domain_filter),
        )  # fmt: skip


def selects(info: Info[Any, Any], name: str) -> bool:
    """Whether the current field's own selection (through fragments, not deeper) asks for `name`."""
    pending = [node for field in info.selected_fields for node in field.selections]
    while pending:
        node = pending.pop()
        if isinstance(node, SelectedField):
            if node.name == name:
                return True
        else:  # a fragment spread or an inline fragment
            pending += node.selections
    return False


@strawberry.type
class Mutation(DeliveryMutations):
    @strawberry.federation.mutation(
        description="Write an assessment result back to the order's provider.",
        authenticated=True, requires_scopes=[[WRITE_RESULTS]], directives=[Cost(weight=MUTATION_COST)],
    )
    async def update_assessment_result(
        self, info: Info[GraphQLContext, None], input: UpdateAssessmentResultInput
    ) -> UpdateAssessmentResultPayload:
        written = await results.update_assessment_result(
            info.context.app, input.order_id, input.to_domain(), header_key=idempotency_header(info)
        )
        result = AssessmentResult.from_domain(written.result)
        return UpdateAssessmentResultPayload(
            order=AssessmentOrder.from_domain(written.order), result=result,
            delivery=result.delivery, warnings=result.warnings,
        )  # fmt: skip

    @strawberry.federation.mutation(
        description="Read a Kombo connection's new orders now (the background poller does the same). "
        "Provider failures come back as `errorCode`; a sync already running is not started twice.",
        authenticated=True, requires_scopes=[[READ_ORDERS]], directives=[Cost(weight=MUTATION_COST)],
    )
    async def sync_connection(
        self, info: Info[GraphQLContext, None], connection_id: strawberry.ID
    ) -> SyncConnectionPayload:
        return SyncConnectionPayload.from_domain(await sync.sync_connection(info.context.app, connection_id))


class ServiceSchema(strawberry.federation.Schema):
    """The federation schema; `CodedErrors` logs, so the default error log is skipped."""

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        return None

    def _create_execution_context(self, *args: Any, **kwargs: Any) -> Any:
        """Run a document the HTTP edge already parsed and validated (persisted documents: once)."""
        execution_context = super()._create_execution_context(*args, **kwargs)
        document = getattr(execution_context.context, "document", None)
        if document is not None:
            execution_context.graphql_document = document
            execution_context.pre_execution_errors = []  # validated by the edge
        return execution_context


def build_schema() -> ServiceSchema:
    return ServiceSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        # Parsing and validation are cached by the HTTP edge (server/documents.py), which hands
        # the validated document over in the context; without one, Strawberry validates as usual.
        extensions=[CodedErrors],
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
        federation_version="2.9",
    )


def print_sdl(schema: ServiceSchema | None = None) -> str:
    return (schema or build_schema()).as_str() + "\n"
