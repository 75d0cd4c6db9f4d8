"""Per-request context (request id, operation, client) and the middleware that opens it, echoes the
request id, writes the access line and times GraphQL requests."""

from __future__ import annotations

import logging
import random
import re
import time
from contextvars import ContextVar
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.metrics import Metrics

REQUEST_ID_HEADER = "x-request-id"
_VALID_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")
_QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})  # access lines at DEBUG: probes and scrapes
access_log = logging.getLogger("gateway.access")


@dataclass
class RequestInfo:
    """What the edge learns about a request while serving it; read by log lines and metrics."""

    request_id: str
    operation: str | None = None
    client: str | None = None
    outcome: str | None = None  # GraphQL: ok, error (errors beside data), rejected


_current: ContextVar[RequestInfo | None] = ContextVar("gateway_request", default=None)


def current_request() -> RequestInfo | None:
    return _current.get()


def request_id_from(raw: bytes | None) -> str:
    """The caller's `x-request-id` when it is a sane token, otherwise a new one."""
    if raw:
        value = raw.decode("latin-1").strip()
        if _VALID_ID.match(value):
            return value
    # 128 random bits as 32 hex digits, as uuid4().hex gave, without its system call for randomness per
    # request: a correlation id, not a secret (the module's generator, seeded by the system, and seeded
    # again in a forked child)
    return f"{random.getrandbits(128):032x}"


class RequestMiddleware:
    """Pure ASGI: one `RequestInfo` per HTTP request, `x-request-id` echoed, one access line."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_id = next((v for k, v in scope["headers"] if k == b"x-request-id"), None)
        info = RequestInfo(request_id_from(raw_id))
        token = _current.set(info)
        start = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", info.request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._finish(scope, info, status, time.perf_counter() - start)
            _current.reset(token)

    def _finish(self, scope: Scope, info: RequestInfo, status: int, seconds: float) -> None:
        path = scope["path"]  # never the query string: GET /graphql carries variables there
        if info.outcome is not None:
            self.metrics.graphql_request(info.operation, info.outcome, seconds)
        level = logging.DEBUG if path in _QUIET_PATHS else logging.INFO
        if access_log.isEnabledFor(level):
            access_log.log(level, "%s %s %d %.1f ms", scope["method"], path, status, seconds * 1000, extra={
                "method": scope["method"], "path": path, "status": status, "duration_ms": round(seconds * 1000, 2),
            })  # fmt: skip
