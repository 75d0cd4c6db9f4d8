"""The GraphQL HTTP view: Strawberry's ASGI view with our per-request context. GraphiQL on GET."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from resolvers.context import AppContext
from schema.context import GraphQLContext
from schema.root import ServiceSchema


class GraphQLView(GraphQL[GraphQLContext, None]):
    def __init__(self, schema: ServiceSchema, app_context: Callable[[], AppContext]) -> None:
        super().__init__(schema, graphql_ide="graphiql", allow_queries_via_get=True)
        self._app_context = app_context

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> GraphQLContext:
        return GraphQLContext(app=self._app_context(), request=request, response=response)
