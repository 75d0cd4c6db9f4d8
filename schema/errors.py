"""Error codes on every GraphQL error; unexpected errors are masked and logged with detail."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from providers.errors import DomainError, ErrorCode
from store.outage import as_service_unavailable

log = logging.getLogger("gateway.graphql")


def one_line(message: str, limit: int = 300) -> str:
    """A client error's message for the log: one line, cut to `limit` characters (it may echo input)."""
    flat = " ".join(message.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def innermost(error: GraphQLError) -> BaseException | None:
    """The first non-GraphQL error under `error` (coercion wraps ours in GraphQLErrors)."""
    original = error.original_error
    while isinstance(original, GraphQLError):
        original = original.original_error
    return original


def code_for(error: GraphQLError) -> ErrorCode | None:
    """The code of an error, or None when it is unexpected (a bug)."""
    original = innermost(error)
    if isinstance(original, DomainError):
        return original.code
    if original is not None:  # a store outage is coded; anything else is a bug
        return ErrorCode.SERVICE_UNAVAILABLE if as_service_unavailable(original) else None
    if error.message.startswith("Syntax Error"):
        return ErrorCode.GRAPHQL_PARSE_FAILED
    if error.message.startswith("Variable '$"):
        return ErrorCode.BAD_USER_INPUT
    return ErrorCode.GRAPHQL_VALIDATION_FAILED


class CodedErrors(SchemaExtension):
    """Give each error `extensions.code`; mask anything that is not an expected error."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = [coded(error) for error in result.errors]


def coded(error: GraphQLError) -> GraphQLError:
    """The error as a client sees it: with its code; an outage with the outage's message; anything
    unexpected masked (and logged with its stack). Streams (subscriptions) use it item by item."""
    code = code_for(error)
    original = innermost(error)
    if code is None:
        log.error("unexpected error at %s", error.path, exc_info=original)
        return GraphQLError(
            "Unexpected error.", nodes=error.nodes, path=error.path,
            extensions={"code": ErrorCode.INTERNAL_SERVER_ERROR.value},
        )  # fmt: skip
    if original is not None and not isinstance(original, DomainError):  # a store outage
        log.warning("store unavailable at %s: %r", error.path, original)
        outage = as_service_unavailable(original)
        assert outage is not None
        return GraphQLError(outage.message, nodes=error.nodes, path=error.path, extensions=outage.extensions)
    if isinstance(original, DomainError):
        log.info("%s at %s: %s", code.value, error.path, one_line(original.message))
        extensions = {**original.extensions, **(error.extensions or {})}
    else:
        log.info("%s at %s: %s", code.value, error.path, one_line(error.message))
        extensions = {**(error.extensions or {}), "code": code.value}
    error.extensions = extensions
    return error
