"""Query and Mutation roots and the federation schema. Each field is thin glue."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import strawberry
from graphql import FieldNode, FragmentSpreadNode, GraphQLError, InlineFragmentNode
from strawberry.federation.schema_directives import Cost, ListSize
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from resolvers import orders, results, sync
from schema import delivery, live
from schema.access import READ_ORDERS, WRITE_RESULTS, access
from schema.context import GraphQLContext
from schema.delivery import idempotency_header
from schema.enums import AssessmentOrderSort
from schema.errors import CodedErrors
from schema.inputs import AssessmentOrderFilter, UpdateAssessmentResultInput
from schema.scalars import SCALAR_MAP
from schema.sync import SyncConnectionPayload
from schema.types import AssessmentOrder, AssessmentResult, Delivery, Node, TranslationWarning
from store import OrderSort

SDL_PATH = Path(__file__).with_name("schema.graphql")
MUTATION_COST = 10  # @cost of a mutation that calls a provider (objects cost 1, scalars 0)


@strawberry.type(description="An order in a list, with its cursor.")
class AssessmentOrderEdge:
    cursor: str = strawberry.field(description="Opaque cursor of this order, for `after` / `before`.")
    node: AssessmentOrder | None = strawberry.field(
        description="The order; null, with a STORED_RECORD_UNREADABLE error, when its stored record cannot be "
        "read (the other edges still come back)."
    )


class UnreadableEdge:
    """Stands in for an AssessmentOrderEdge whose stored record cannot be read: reading `node` raises
    the record's coded error, so that edge's node is null with the error. `node` stays a plain
    attribute of the type (no resolver runs for each edge of a page)."""

    def __init__(self, cursor: str, error: Exception) -> None:
        self.cursor = cursor
        self.error = error

    @property
    def node(self) -> AssessmentOrder | None:
        raise self.error


@strawberry.type(description="Relay page information.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="Whether orders follow this page.")
    has_previous_page: bool = strawberry.field(description="Whether orders precede this page.")
    start_cursor: str | None = strawberry.field(description="The cursor of the page's first order.")
    end_cursor: str | None = strawberry.field(description="The cursor of the page's last order.")


@strawberry.type(description="A page of assessment orders.")
class AssessmentOrderConnection:
    edges: list[AssessmentOrderEdge] = strawberry.field(description="The orders of this page.")
    page_info: PageInfo = strawberry.field(description="Paging information.")
    known_total: strawberry.Private[int | None]
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="Orders matching the filter, over all pages.")
    async def total_count(self) -> int:
        return self.known_total if self.known_total is not None else await self.count()


@strawberry.type(description="What `updateAssessmentResult` did.")
class UpdateAssessmentResultPayload:
    """Each field is converted from the domain objects only when the operation selects it."""

    written: strawberry.Private[results.ResultWritten]

    @strawberry.field(description="The order merged with the provider's answer.")
    def order(self) -> AssessmentOrder:
        return AssessmentOrder.from_domain(self.written.order)

    @strawberry.field(description="The recorded result.")
    def result(self) -> AssessmentResult:
        return AssessmentResult.from_domain(self.written.result)

    @strawberry.field(description="The delivery outcome (same as result.delivery).")
    def delivery(self) -> Delivery:
        return Delivery.from_domain(self.written.result.delivery)

    @strawberry.field(description="Every translation that changed, moved or approximated a value.")
    def warnings(self) -> list[TranslationWarning]:
        return [TranslationWarning.from_domain(w) for w in self.written.result.warnings]


def _arg(description: str) -> Any:
    return strawberry.argument(description=description)


OrderId = Annotated[strawberry.ID, _arg("An order's global id (AssessmentOrder.id).")]


async def _order_or_none(info: Info[GraphQLContext, None], id: str) -> AssessmentOrder | None:
    found = (await orders.load_orders(info.context.app, [id]))[0]
    if isinstance(found, Exception):
        if getattr(found, "code", None) == "NOT_FOUND":
            return None
        raise found
    return AssessmentOrder.from_domain(found)


async def assessment_order(info: Info[GraphQLContext, None], id: OrderId) -> AssessmentOrder | None:
    return await _order_or_none(info, id)


async def node(
    info: Info[GraphQLContext, None], id: Annotated[strawberry.ID, _arg("A global id (Node.id).")]
) -> Node | None:
    return await _order_or_none(info, id)


async def assessment_orders(
    info: Info[GraphQLContext, None],
    filter: Annotated[AssessmentOrderFilter | None, _arg("Which orders; all when absent.")] = None,
    first: Annotated[int | None, _arg("Page size from the start or `after` (at most 100).")] = None,
    after: Annotated[str | None, _arg("Orders after this cursor.")] = None,
    last: Annotated[int | None, _arg("Page size from the end or `before` (at most 100).")] = None,
    before: Annotated[str | None, _arg("Orders before this cursor.")] = None,
    order_by: Annotated[AssessmentOrderSort, _arg("The ordering.")] = OrderSort.CREATED_AT_DESC,
) -> AssessmentOrderConnection:
    domain_filter = (filter or AssessmentOrderFilter()).to_domain()
    ctx = info.context.app
    page = await orders.list_orders(
        ctx, domain_filter, first=first, after=after, last=last, before=before,
        sort=order_by, count_total=selects(info, "totalCount"),
    )  # fmt: skip
    edges = [
        UnreadableEdge(c, o) if isinstance(o, Exception) else AssessmentOrderEdge(cursor=c, node=AssessmentOrder.from_domain(o))
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
    """Whether the current field's own selection (through fragments, not deeper) asks for `name`.

    Read from graphql-core's field nodes: Strawberry's `selected_fields` would convert the whole
    selection tree (arguments, directives, every nested field) for each call."""
    raw = info._raw_info
    pending: list[Any] = [s for node in raw.field_nodes if node.selection_set for s in node.selection_set.selections]
    while pending:
        node = pending.pop()
        if isinstance(node, FieldNode):
            if node.name.value == name:
                return True
        elif isinstance(node, InlineFragmentNode):
            pending += node.selection_set.selections
        elif isinstance(node, FragmentSpreadNode) and node.name.value in raw.fragments:
            pending += raw.fragments[node.name.value].selection_set.selections
    return False


async def update_assessment_result(
    info: Info[GraphQLContext, None], input: Annotated[UpdateAssessmentResultInput, _arg("The result to write.")]
) -> UpdateAssessmentResultPayload:
    written = await results.update_assessment_result(
        info.context.app, input.order_id, input.to_domain(), header_key=idempotency_header(info)
    )
    return UpdateAssessmentResultPayload(written=written)


async def sync_connection(
    info: Info[GraphQLContext, None],
    connection_id: Annotated[strawberry.ID, _arg("A Kombo connection's configured id, e.g. `sandbox-kombo`.")],
) -> SyncConnectionPayload:
    return SyncConnectionPayload.from_domain(await sync.sync_connection(info.context.app, connection_id))


def build_roots(security_directives: bool = False) -> tuple[type, type, type]:
    """The Query, Mutation and Subscription types; `security_directives` adds @authenticated /
    @requiresScopes."""
    field, mutation = strawberry.federation.field, strawberry.federation.mutation
    read, write = access(READ_ORDERS, security_directives), access(WRITE_RESULTS, security_directives)
    cost = [Cost(weight=MUTATION_COST)]
    # Demand control (IBM cost spec): a page's size is its `first`/`last`, and it sizes `edges`.
    page_size = ListSize(slicing_arguments=["first", "last"], sized_fields=["edges"], assumed_size=20,
                         require_one_slicing_argument=False)  # fmt: skip
    deliveries_size = ListSize(slicing_arguments=["first"], sized_fields=["edges"], assumed_size=50,
                               require_one_slicing_argument=False)  # fmt: skip

    @strawberry.type(description="Reading: orders, deliveries, and any object by its global id.")
    class Query:
        assessment_order = field(assessment_order, description="One order by its global id; null when it does not exist.", **read)
        assessment_orders = field(assessment_orders, description="Orders from every connection, newest first by default.",
                                  directives=[page_size], **read)  # fmt: skip
        deliveries = field(delivery.deliveries, description="Recorded results by delivery state (e.g. RETRYING, "
                           "FAILED), oldest first, at most 100 a page.", directives=[deliveries_size], **read)  # fmt: skip
        node = field(node, description="Any object by its global id (Relay); null when it does not exist.", **read)
        assessment_order_event_cursor = field(live.assessment_order_event_cursor, description=live.CURSOR_DESCRIPTION,
                                              **read)  # fmt: skip

    @strawberry.type(description="Writing: results, their delivery, and Kombo syncs.")
    class Mutation:
        update_assessment_result = mutation(
            update_assessment_result, description="Write an assessment result back to the order's provider.",
            directives=cost, **write,
        )  # fmt: skip
        sync_connection = mutation(
            sync_connection, description="Read a Kombo connection's new orders now (the background poller does the "
            "same). Provider failures come back as `errorCode`; a sync already running is not started twice.",
            directives=cost, **read,
        )  # fmt: skip
        retry_delivery = mutation(
            delivery.retry_delivery, description="Send a FAILED or RETRYING delivery now, without waiting for its "
            "next attempt. Answers like updateAssessmentResult; CONFLICT for other states or when a newer result "
            "exists.", directives=cost, **write,
        )  # fmt: skip
        cancel_delivery = mutation(
            delivery.cancel_delivery, description="Cancel a PENDING or RETRYING delivery; CONFLICT when it is being "
            "sent right now or is already delivered, failed or cancelled.", **write,
        )  # fmt: skip

    return Query, Mutation, live.build_subscription(read)


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


def build_schema(extensions: Sequence[Any] = (), security_directives: bool = False) -> ServiceSchema:
    """The federation schema; `extensions` are added to the standard ones (e.g. tracing). The committed
    SDL is the default (no security directives)."""
    query, mutation, subscription = build_roots(security_directives)
    return ServiceSchema(
        query=query,
        mutation=mutation,
        subscription=subscription,
        # Parsing and validation are cached by the HTTP edge (server/documents.py), which hands
        # the validated document over in the context; without one, Strawberry validates as usual.
        extensions=[CodedErrors, *extensions],
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
        federation_version="2.9",
    )


def print_sdl(schema: ServiceSchema | None = None) -> str:
    return (schema or build_schema()).as_str() + "\n"
