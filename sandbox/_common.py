"""Shared sandbox plumbing: request recording, control routes, JSON bodies and small value checks."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTROL_PREFIX = "/_sandbox/"
Clock = Callable[[], datetime]
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", re.IGNORECASE)


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_millis(moment: datetime) -> str:
    """`YYYY-MM-DDTHH:mm:ss.sssZ`, the format every provider's examples use."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class RecordedRequest:
    """One request a sandbox received, and the status it answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    raw_body: bytes
    status: int

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["raw_body"] = self.raw_body.decode("utf-8", errors="replace")
        return data


class SandboxState(Protocol):
    received: list[RecordedRequest]

    def reset(self) -> None: ...

    def snapshot(self) -> Any: ...


class InvalidJson(Exception):
    """The request body is not JSON."""


def parse_json(raw: bytes) -> Any:
    """The body as JSON; `InvalidJson` if it is not."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJson(str(exc)) from None


def _lenient_json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw.strip() else None
    except (ValueError, UnicodeDecodeError):
        return None


def _headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


class Recorder:
    """ASGI middleware: records every provider-API request (refused ones included) with its status."""

    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _route_path(scope).startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        raw = await _read_body(receive)
        answered = {"status": 500}
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": raw, "more_body": False}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, replay, capture)
        finally:
            self.state.received.append(_record(scope, raw, answered["status"]))


def _route_path(scope: Scope) -> str:
    path, root = scope["path"], scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _record(scope: Scope, raw: bytes, status: int) -> RecordedRequest:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    return RecordedRequest(
        method=scope["method"], path=scope["path"], query=query, headers=_headers(scope),
        body=_lenient_json(raw), raw_body=raw, status=status,
    )  # fmt: skip


def control_routes(state: SandboxState) -> list[Route]:
    """`GET /_sandbox/orders`, `GET /_sandbox/requests`, `POST /_sandbox/reset`."""

    async def orders(request: Request) -> JSONResponse:
        return JSONResponse(state.snapshot())

    async def requests(request: Request) -> JSONResponse:
        return JSONResponse([r.to_json() for r in state.received])

    async def reset(request: Request) -> JSONResponse:
        state.reset()
        return JSONResponse({"reset": True})

    return [
        Route(f"{CONTROL_PREFIX}orders", orders, methods=["GET"]),
        Route(f"{CONTROL_PREFIX}requests", requests, methods=["GET"]),
        Route(f"{CONTROL_PREFIX}reset", reset, methods=["POST"]),
    ]


# --------------------------------------------------------------------------- value checks


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_rfc3339(value: Any) -> bool:
    """An ISO-8601 / RFC 3339 date-time with a time zone (`format: date-time`)."""
    if not isinstance(value, str) or not _RFC3339.match(value):
        return False
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def is_absolute_uri(value: Any) -> bool:
    """`format: uri`: a scheme and something after it (we also want a host for http(s))."""
    if not isinstance(value, str) or any(c.isspace() for c in value):
        return False
    parts = urlsplit(value)
    if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*$", parts.scheme or ""):
        return False
    return bool(parts.netloc) if parts.scheme.lower() in ("http", "https") else bool(parts.path or parts.netloc)


def is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)
