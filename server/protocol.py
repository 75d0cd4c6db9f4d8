"""GraphQL over HTTP: read a request's parameters (GET or POST), negotiate the media type, CSRF rules."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from providers.bounds import MAX_BODY_DEPTH, json_problem, plain_json_text
from providers.errors import ErrorCode
from server.errors import RequestError, bad_request

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
# Content types a browser may send cross-origin without a preflight (Apollo's CSRF prevention).
SIMPLE_CONTENT_TYPES = frozenset({"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"})
PREFLIGHT_HEADERS = ("x-apollo-operation-name", "apollo-require-preflight")


@dataclass(frozen=True)
class GraphQLParams:
    query: str | None
    variables: dict[str, Any]
    operation_name: str | None
    extensions: dict[str, Any]
    document_id: str | None

    @property
    def persisted_query(self) -> Any:
        return self.extensions.get("persistedQuery")


def response_media_type(accept: str | None) -> str | None:
    """application/graphql-response+json when asked for, application/json for legacy clients; None: 406."""
    if not accept:
        return JSON
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept.lower().split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    quality = float(param[2:])
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranked.append((-quality, index, media))
    for _, _, media in sorted(ranked):
        if media == GRAPHQL_RESPONSE:
            return GRAPHQL_RESPONSE
        if media in (JSON, "application/*", "*/*"):
            return JSON
    return None


def check_csrf(request: Request, required_headers: tuple[str, ...] = PREFLIGHT_HEADERS) -> None:
    """Refuse requests a browser could send cross-origin without a preflight (as Apollo Router does)."""
    content_type = request.headers.get("content-type")
    if content_type is not None:
        media = content_type.split(";", 1)[0].strip().lower()
        if media and media not in SIMPLE_CONTENT_TYPES:
            return
    if any(request.headers.get(name) for name in required_headers):
        return
    raise RequestError(
        ErrorCode.CSRF_ERROR,
        "This operation has been blocked as a potential Cross-Site Request Forgery (CSRF). Send a "
        "Content-Type other than text/plain, application/x-www-form-urlencoded or multipart/form-data, "
        f"or a non-empty header {' or '.join(required_headers)}.",
        400,
    )


async def read_params(request: Request, max_body_bytes: int) -> GraphQLParams:
    if request.method == "GET":
        query = dict(request.query_params)
        return params_of({
            "query": query.get("query"),
            "operationName": query.get("operationName"),
            "variables": _json_param(query, "variables"),
            "extensions": _json_param(query, "extensions"),
            "documentId": query.get("documentId"),
        })  # fmt: skip
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if not content_type:
        raise RequestError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "A Content-Type header is required.", 415)
    if content_type not in (JSON, "application/graphql+json"):
        raise RequestError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, f"Unsupported Content-Type {content_type}.", 415)
    body = await _body(request, max_body_bytes)
    if not body:
        raise bad_request("The request body is empty.")
    data = decode_json(body, "request body")
    if not isinstance(data, dict):
        raise bad_request("The request body must be a JSON object (batching is not supported).")
    return params_of(data)


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def too_large(limit: int) -> RequestError:
    return RequestError(ErrorCode.PAYLOAD_TOO_LARGE, f"The request body is larger than {limit} bytes.", 413)


def _json_param(query: dict[str, str], name: str) -> Any:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    return decode_json(raw, f"{name} parameter")


def decode_json(raw: str | bytes, what: str) -> Any:
    """Strict JSON (UTF-8, no NaN or Infinity), nested at most MAX_BODY_DEPTH levels, finite numbers
    and valid Unicode; anything else is a BAD_REQUEST, never an unexpected error."""
    try:
        data = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise bad_request(f"The {what} is not valid JSON.") from None
    if isinstance(raw, bytes) and plain_json_text(raw, MAX_BODY_DEPTH):  # (depth <= containers here)
        return data
    problem = json_problem(data, max_depth=MAX_BODY_DEPTH, max_bytes=None, max_int=None)
    if problem:
        raise bad_request(f"The {what} is not acceptable JSON: {problem}.")
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def params_of(data: dict[str, Any]) -> GraphQLParams:
    """The parameters of a GraphQL-over-HTTP body (or a WebSocket `subscribe` payload)."""
    query, operation_name = data.get("query"), data.get("operationName")
    variables, extensions = data.get("variables"), data.get("extensions")
    document_id = data.get("documentId")
    checks = (
        (query, str, "query must be a string"),
        (operation_name, str, "operationName must be a string"),
        (variables, dict, "variables must be an object"),
        (extensions, dict, "extensions must be an object"),
        (document_id, str, "documentId must be a string"),
    )
    for value, kind, message in checks:
        if value is not None and not isinstance(value, kind):
            raise bad_request(message + ".")
    extensions = extensions or {}
    if not query and document_id is None and "persistedQuery" not in extensions:
        raise bad_request("The query parameter is missing.")
    return GraphQLParams(query or None, variables or {}, operation_name, extensions, document_id)
