"""The GraphQL HTTP view: GraphQL over HTTP (GET and POST), client auth, persisted queries, limits, GraphiQL.

The order of checks: media type, CSRF, client, rate limit, body, persisted document, parse and
validation (once per document text, full text or persisted), operation, introspection and scopes, limits, deadline.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from strawberry.types.graphql import OperationType

from providers.errors import ErrorCode, ServiceUnavailableError
from resolvers.context import AppContext
from schema.context import GraphQLContext
from schema.errors import code_for, one_line
from schema.root import ServiceSchema
from server.clients import Principal
from server.edge import Edge, without_suggestions
from server.errors import RequestError, bad_request
from server.live import Admitted, Subscriptions, sse_response, unavailable_response
from server.protocol import (
    GRAPHQL_RESPONSE,
    JSON,
    GraphQLParams,
    check_csrf,
    params_of,
    read_params,
    response_media_type,
)
from server.request_context import current_request
from store.outage import as_service_unavailable

log = logging.getLogger("gateway.http")
_OPERATION_TYPES = {"query": OperationType.QUERY, "mutation": OperationType.MUTATION}


class GraphQLView:
    """An ASGI endpoint for /graphql."""

    def __init__(
        self,
        schema: ServiceSchema,
        app_context: Callable[[], AppContext],
        edge: Edge,
        graphiql: Callable[[Request], Awaitable[Response]],
    ) -> None:
        self.schema = schema
        self._app_context = app_context
        self.edge = edge
        self._graphiql = graphiql
        self.live: Subscriptions | None = None  # set when live events run (subscriptions over SSE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.handle(Request(scope, receive))
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        if request.method == "GET" and self._wants_graphiql(request):
            return await self._graphiql(request)
        if self.live is not None and _wants_sse(request):
            return await self._sse(request)
        media = response_media_type(request.headers.get("accept"))
        if media is None:
            return _errors(RequestError(ErrorCode.NOT_ACCEPTABLE, "Accept application/graphql-response+json "
                                        "or application/json.", 406), JSON)  # fmt: skip
        try:
            return await self._graphql(request, media)
        except RequestError as error:
            log.info("refused %s (HTTP %s): %s", error.code.value, error.status, one_line(error.message))
            return _errors(error, media)
        except Exception as exc:  # the store went away before execution (clients, persisted documents)
            outage = as_service_unavailable(exc)
            if outage is None:
                raise
            return _result(media, None, [{"message": outage.message, "extensions": outage.extensions}],
                           request_error=True)  # fmt: skip

    def _wants_graphiql(self, request: Request) -> bool:
        accept = request.headers.get("accept", "")
        return self.edge.graphiql and "text/html" in accept and "query" not in request.query_params

    async def _graphql(self, request: Request, media: str) -> Response:
        admitted = await self._admit_request(request, csrf=True)
        if isinstance(admitted, list):
            return _result(media, None, admitted, request_error=True)
        if admitted.operation_type not in _OPERATION_TYPES:
            raise bad_request(f"{admitted.operation_type.capitalize()}s are not served over HTTP "
                              "(use WebSocket, or POST with Accept: text/event-stream).")  # fmt: skip
        return await self._execute(request, media, admitted)

    async def _sse(self, request: Request) -> Response:
        """graphql-sse, distinct connections mode: POST (or GET, as gateways send it) with Accept:
        text/event-stream. A GET runs no mutation (405), so it needs no CSRF preflight header."""
        try:
            admitted = await self._admit_request(request, csrf=request.method == "POST")
            if isinstance(admitted, list):
                return _result(JSON, None, admitted, request_error=True)
            assert self.live is not None
            return await sse_response(self.live, admitted, request)
        except RequestError as error:
            log.info("refused %s (HTTP %s): %s", error.code.value, error.status, one_line(error.message))
            return _errors(error, JSON)
        except Exception as exc:  # the store went away before the stream started
            outage = as_service_unavailable(exc)
            if outage is None:
                raise
            _outcome("rejected")
            return unavailable_response([{"message": outage.message, "extensions": outage.extensions}])

    async def _admit_request(self, request: Request, *, csrf: bool) -> Admitted | list[Any]:
        """The request's client, body and `admit` (and the CSRF check first when `csrf`)."""
        edge = self.edge
        if csrf and edge.settings.csrf_prevention:
            check_csrf(request)
        principal = await edge.authenticator.authenticate(request.headers)
        params = await read_params(request, edge.settings.limits.max_body_bytes)
        return await self.admit(principal, params, request.method)

    async def admit_payload(self, principal: Principal, payload: dict[str, Any]) -> Admitted | list[Any]:
        """`admit` for a WebSocket `subscribe` payload."""
        return await self.admit(principal, params_of(payload))

    async def admit(self, principal: Principal, params: GraphQLParams, method: str = "POST") -> Admitted | list[Any]:
        """Every check before execution; the document's coded errors (a list) when it does not validate."""
        edge = self.edge
        info = current_request()
        if info is not None:
            info.client = principal.name
        edge.check_rate(principal)
        resolved = await edge.persisted.resolve(params.query, params.persisted_query, params.document_id, principal)
        prepared = edge.preparer.cached(resolved.text)  # full text and persisted documents alike
        quiet = not edge.can_introspect(principal)
        if prepared.errors:
            errors = prepared.quiet_errors if quiet else prepared.errors
            log.info("refused %s: %s", code_for(errors[0]) or ErrorCode.GRAPHQL_VALIDATION_FAILED,
                     one_line(errors[0].message))  # fmt: skip
            return [coded_error(e, quiet) for e in errors]
        if resolved.register is not None:
            await edge.persisted.register(resolved.register, resolved.text, principal)
        operation = prepared.operation(params.operation_name)
        if info is not None and operation is not None:
            info.operation = operation.name
        if operation is None:
            raise bad_request("No operation of that name." if params.operation_name else "Name the operation to run.")
        if method == "GET" and operation.type == "mutation":
            raise RequestError(ErrorCode.METHOD_NOT_ALLOWED, f"A {operation.type} cannot be sent with GET.", 405,
                               headers={"Allow": "POST"})  # fmt: skip
        edge.authorize(operation, principal)
        edge.check_limits(prepared, operation, params.variables)
        return Admitted(principal, prepared.text, prepared.document, params.variables, params.operation_name,
                        operation.type, quiet)  # fmt: skip

    async def _execute(self, request: Request, media: str, admitted: Admitted) -> Response:
        app = self._app_context().for_connections(admitted.principal.connections)
        context = GraphQLContext(app=app, request=request, response=None, document=admitted.document)
        try:
            async with asyncio.timeout(self.edge.settings.limits.request_timeout_seconds):
                result = await self.schema.execute(
                    admitted.text, variable_values=admitted.variables, context_value=context,
                    operation_name=admitted.operation_name, allowed_operation_types=tuple(_OPERATION_TYPES.values()),
                )  # fmt: skip
        except TimeoutError:
            raise RequestError(ErrorCode.REQUEST_TIMEOUT, "The request took too long.", 504) from None
        errors = [coded_error(e, admitted.quiet) for e in result.errors or ()]
        request_error = result.data is None and bool(errors) and all(not e.get("path") for e in errors)
        return _result(media, result.data, errors, request_error=request_error)


def coded_error(error: GraphQLError, quiet: bool) -> dict[str, Any]:
    formatted: dict[str, Any] = dict(error.formatted)
    extensions = dict(formatted.get("extensions") or {})
    if "code" not in extensions:
        code = code_for(error) or ErrorCode.INTERNAL_SERVER_ERROR
        extensions["code"] = code.value
    formatted["extensions"] = extensions
    if quiet:
        formatted["message"] = without_suggestions(formatted["message"])
    return formatted


def _result(media: str, data: Any, errors: list[dict[str, Any]], *, request_error: bool) -> Response:
    """A GraphQL response: request errors have no `data` and, for graphql-response+json, status 400.

    While the store is unreachable (any error SERVICE_UNAVAILABLE) the answer carries `Retry-After`,
    and for graphql-response+json the status is 503; application/json keeps 200 (GraphQL over HTTP).
    """
    body: dict[str, Any] = {} if request_error else {"data": data}
    _outcome("rejected" if request_error else "error" if errors else "ok")
    if errors:
        body["errors"] = errors
    status = 400 if request_error and media == GRAPHQL_RESPONSE else 200
    if any((e.get("extensions") or {}).get("code") == ErrorCode.SERVICE_UNAVAILABLE for e in errors):
        status = 503 if media == GRAPHQL_RESPONSE else 200
        return _json(body, status, media, {"Retry-After": f"{ServiceUnavailableError.retry_after:g}"})
    return _json(body, status, media)


def _errors(error: RequestError, media: str) -> Response:
    _outcome("rejected")
    return _json({"errors": [error.as_error()]}, error.status, media, error.headers)


def _outcome(outcome: str) -> None:
    info = current_request()
    if info is not None:
        info.outcome = outcome


def _json(body: dict[str, Any], status: int, media: str, headers: dict[str, str] | None = None) -> Response:
    return Response(encode_json(body), status, headers=headers, media_type=f"{media}; charset=utf-8")


def encode_json(body: Any) -> bytes:
    """Compact UTF-8 JSON. orjson is several times faster on a page of orders; what it refuses (it is
    stricter: integers past 64 bits, non-string keys, nesting past 255) goes to the standard library,
    which answered every response before."""
    try:
        return orjson.dumps(body)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _wants_sse(request: Request) -> bool:
    return "text/event-stream" in request.headers.get("accept", "")
