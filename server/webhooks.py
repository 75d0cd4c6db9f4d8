"""Webhook intake routes: POST /webhooks/{connection_id} for every configured connection."""

from __future__ import annotations

import logging
from collections.abc import Callable

from opentelemetry import trace
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from resolvers.context import AppContext
from resolvers.intake import IntakeOutcome, WebhookError, WebhookErrorCode, receive_webhook
from server.metrics import Metrics
from store.transactions import span

log = logging.getLogger("gateway.webhooks")
_tracer = trace.get_tracer("gateway.webhooks")
MAX_BODY_BYTES = 1024 * 1024
_STATUS: dict[WebhookErrorCode, int] = {
    WebhookErrorCode.BAD_SIGNATURE: 401,
    WebhookErrorCode.NOT_FOUND: 404,
    WebhookErrorCode.PAYLOAD_TOO_LARGE: 413,
    WebhookErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    WebhookErrorCode.MALFORMED_BODY: 400,
    WebhookErrorCode.ORDER_REJECTED: 422,
    WebhookErrorCode.CONNECTION_MISMATCH: 403,
}


def webhook_routes(app_context: Callable[[], AppContext], metrics: Metrics | None = None) -> list[BaseRoute]:
    """`POST /webhooks/{connection_id}`: verified, recorded, answered without waiting on providers."""

    async def receive(request: Request) -> JSONResponse:
        connection_id = request.path_params["connection_id"]
        ctx = app_context()
        with span(_tracer, "webhook intake", attributes={"gateway.connection_id": connection_id}):
            try:
                _check_request(ctx, connection_id, request)
                raw_body = await _read_body(request)
                outcome = await receive_webhook(ctx, connection_id, request.headers, raw_body)
            except WebhookError as exc:
                log.info("webhook for %s refused: %s", connection_id, exc.code.value,
                         extra={"connection_id": connection_id})  # fmt: skip
                _count(metrics, ctx, connection_id, exc.code.value)
                return _error(exc.code, exc.message)
            _count(metrics, ctx, connection_id, _outcome(outcome))
            return _answer(connection_id, outcome)

    return [Route("/webhooks/{connection_id}", receive, methods=["POST"])]


def _outcome(outcome: IntakeOutcome) -> str:
    if outcome.refusal is not None:
        return WebhookErrorCode.ORDER_REJECTED.value
    return "duplicate" if outcome.duplicate else "accepted"


def _count(metrics: Metrics | None, ctx: AppContext, connection_id: str, outcome: str) -> None:
    """Unknown connection ids are counted under "unknown" (labels stay a closed set)."""
    if metrics is None:
        return
    connection = ctx.connections.get(connection_id)
    if connection is None:
        metrics.webhook("unknown", "unknown", outcome)
    else:
        metrics.webhook(connection.provider.value, connection_id, outcome)


def _check_request(ctx: AppContext, connection_id: str, request: Request) -> None:
    if connection_id not in ctx.connections:
        raise WebhookError(WebhookErrorCode.NOT_FOUND, "No such webhook endpoint.")
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise WebhookError(WebhookErrorCode.UNSUPPORTED_MEDIA_TYPE, "The body must be application/json.")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise _too_large()


async def _read_body(request: Request) -> bytes:
    """The body, refused once it grows past the limit (whatever Content-Length said)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large() -> WebhookError:
    return WebhookError(WebhookErrorCode.PAYLOAD_TOO_LARGE, f"The body is larger than {MAX_BODY_BYTES} bytes.")


def _answer(connection_id: str, outcome: IntakeOutcome) -> JSONResponse:
    log.info("webhook for %s: %d order(s)%s", connection_id, outcome.orders, " (redelivery)" if outcome.duplicate else "",
             extra={"connection_id": connection_id, "order_ids": list(outcome.order_ids)})  # fmt: skip
    if outcome.refusal is not None:
        log.info("webhook for %s: %d order(s) refused by package", connection_id, len(outcome.rejected))
        return _error(WebhookErrorCode.ORDER_REJECTED, outcome.refusal)
    return JSONResponse({"status": "ok", "orders": outcome.orders, "duplicate": outcome.duplicate})


def _error(code: WebhookErrorCode, message: str) -> JSONResponse:
    return JSONResponse({"error": code.value, "message": message}, status_code=_STATUS[code])
