"""Fault switches for the sandboxes, and the record of writes in flight per order.

Control routes (not recorded, not part of any provider API):
`GET /_sandbox/faults` the switches and what happened; `POST /_sandbox/faults` sets switches (a JSON
object, keys below; unknown keys are refused); `DELETE /_sandbox/faults` turns every switch off (the
record is kept; `POST /_sandbox/reset` clears it with the rest of the sandbox).

Switches (rates are probabilities per request, drawn in this order; `seed` makes them repeatable):
`rate_429` (+ `retry_after` seconds in `Retry-After`; Kombo: `code_429` in its error envelope),
`rate_408` (StackOne's answer after its own upstream retries, with `Retry-After`), `rate_500`, `rate_503`,
`rate_timeout` (the request hangs `hang_seconds`, is never applied, then
gets 504), `rate_malformed` (200 with a truncated JSON body; not applied), `rate_drop` (the status
line is sent, then the connection drops: over a socket the client sees a closed connection, in
process httpx's own `RemoteProtocolError`), `down_for_seconds` (every request answers 503 until
then), `latency_ms: [min, max]` (each write that is applied is held in flight that long),
`concurrency_limit` (more writes in flight at once on this sandbox than that: 429, Kombo
`PLATFORM.CONCURRENCY_LIMIT_EXCEEDED`), `writes_only` (default true: reads are never faulted),
`rate_lost_answer` (the write is applied, then the connection drops before the answer: the change
stands and the caller cannot see it). Kombo only: `stale_read_seconds` (reads come from Kombo's last
sync: for that long after a write, `GET /assessment/orders` shows the order as it was before it) and
`write_once` (the ATS behind Kombo takes one result per order: once the order left OPEN, any further
write is refused as a status change is, `PLATFORM.INPUT_INVALID`, even with the same status).

The record: `overlaps` (a write arrived for an order while another write for it was in flight),
`applied` (writes the sandbox applied, per order), `max_in_flight`, `injected` (faults per kind).
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox._common import CONTROL_PREFIX, InvalidJson, parse_json

ErrorBody = Callable[[int, str, str | None], bytes]  # (status, message, provider code) -> body
_RATES = ("rate_429", "rate_408", "rate_500", "rate_503", "rate_timeout", "rate_malformed", "rate_drop",
          "rate_lost_answer")  # fmt: skip
_NUMBERS = ("retry_after", "hang_seconds", "down_for_seconds", "stale_read_seconds")
KEYS = frozenset(
    {*_RATES, *_NUMBERS, "latency_ms", "concurrency_limit", "seed", "writes_only", "code_429", "write_once"}
)
WRITE_METHODS = frozenset({"PUT", "PATCH", "POST", "DELETE"})


class BadFaults(Exception):
    pass


@dataclass
class Faults:
    rates: dict[str, float] = field(default_factory=dict)
    retry_after: float = 1.0
    hang_seconds: float = 10.0
    down_until: float | None = None
    latency: tuple[float, float] = (0.0, 0.0)  # seconds
    concurrency_limit: int | None = None
    writes_only: bool = True
    code_429: str | None = None
    stale_read_seconds: float = 0.0  # Kombo: reads lag writes by this much (its sync)
    write_once: bool = False  # Kombo: no write once the order left OPEN
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], float] = time.monotonic  # times `down_for_seconds` (tests set their own)
    in_flight: Counter[str] = field(default_factory=Counter)
    current: int = 0
    max_in_flight: int = 0
    overlaps: list[dict[str, Any]] = field(default_factory=list)
    applied: Counter[str] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)

    def configure(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise BadFaults("the body must be a JSON object of switches")
        unknown = sorted(set(body) - KEYS)
        if unknown:
            raise BadFaults(f"unknown switch {unknown[0]!r}; known: {', '.join(sorted(KEYS))}")
        for key in _RATES:
            if key in body:
                value = body[key]
                if not isinstance(value, int | float) or not 0 <= value <= 1:
                    raise BadFaults(f"{key} must be a number from 0 to 1")
                self.rates[key] = float(value)
        if sum(self.rates.values()) > 1:
            raise BadFaults("the rates add up to more than 1")
        for key in _NUMBERS:
            if key in body and (not isinstance(body[key], int | float) or body[key] < 0):
                raise BadFaults(f"{key} must be a number >= 0")
        self.retry_after = float(body.get("retry_after", self.retry_after))
        self.hang_seconds = float(body.get("hang_seconds", self.hang_seconds))
        if "down_for_seconds" in body:
            self.down_until = self.clock() + float(body["down_for_seconds"])
        if "latency_ms" in body:
            low, high = _pair(body["latency_ms"])
            self.latency = (low / 1000, high / 1000)
        if "concurrency_limit" in body:
            limit = body["concurrency_limit"]
            if limit is not None and (not isinstance(limit, int) or limit < 1):
                raise BadFaults("concurrency_limit must be a positive integer or null")
            self.concurrency_limit = limit
        if "seed" in body:
            self.rng.seed(body["seed"])
        self.writes_only = bool(body.get("writes_only", self.writes_only))
        self.code_429 = body.get("code_429", self.code_429)
        self.stale_read_seconds = float(body.get("stale_read_seconds", self.stale_read_seconds))
        self.write_once = bool(body.get("write_once", self.write_once))

    def switch_off(self) -> None:
        """Every switch off; the record of what happened stays."""
        self.rates.clear()
        self.down_until, self.latency, self.concurrency_limit, self.code_429 = None, (0.0, 0.0), None, None
        self.stale_read_seconds, self.write_once = 0.0, False

    def draw(self) -> str | None:
        if self.down_until is not None:
            if self.clock() < self.down_until:
                return "down"
            self.down_until = None
        roll, edge = self.rng.random(), 0.0
        for key in _RATES:
            edge += self.rates.get(key, 0.0)
            if roll < edge:
                return key.removeprefix("rate_")
        return None

    def to_json(self) -> dict[str, Any]:
        down = max(0.0, self.down_until - self.clock()) if self.down_until is not None else 0.0
        return {
            "switches": {
                **self.rates, "retry_after": self.retry_after, "hang_seconds": self.hang_seconds,
                "down_for_seconds": down, "latency_ms": [self.latency[0] * 1000, self.latency[1] * 1000],
                "concurrency_limit": self.concurrency_limit, "writes_only": self.writes_only,
                "stale_read_seconds": self.stale_read_seconds, "write_once": self.write_once,
            },
            "overlaps": self.overlaps, "applied": dict(self.applied), "max_in_flight": self.max_in_flight,
            "in_flight": self.current, "injected": dict(self.injected),
        }  # fmt: skip


def _pair(value: Any) -> tuple[float, float]:
    if isinstance(value, int | float):
        value = [value, value]
    if (
        not isinstance(value, list) or len(value) != 2
        or not all(isinstance(v, int | float) and v >= 0 for v in value) or value[0] > value[1]
    ):  # fmt: skip
        raise BadFaults("latency_ms must be a number or [min, max] with 0 <= min <= max")
    return float(value[0]), float(value[1])


class FaultInjector:
    """ASGI middleware (inside the Recorder): applies the switches and records writes in flight.

    `write_path` finds the order id in a write's path."""

    def __init__(self, app: ASGIApp, state: Any, write_path: str, error_body: ErrorBody) -> None:
        self.app = app
        self.state = state
        self.write_path = re.compile(write_path)
        self.error_body = error_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = _route_path(scope) if scope["type"] == "http" else ""
        if scope["type"] != "http" or path.startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        faults: Faults = self.state.faults
        match = self.write_path.search(path) if scope["method"] in WRITE_METHODS else None
        if faults.writes_only and match is None:
            await self.app(scope, receive, send)
            return
        kind = faults.draw()
        if kind is None and match is not None and faults.concurrency_limit is not None:
            if faults.current >= faults.concurrency_limit:
                kind = "concurrency"
        if kind == "lost_answer" and match is not None:
            faults.injected[kind] += 1
            await self._apply(scope, receive, _answer_lost(send), faults, match.group(1))
            return
        if kind is not None:
            faults.injected[kind] += 1
            await self._inject(kind, faults, send)
            return
        await self._apply(scope, receive, send, faults, match.group(1) if match else None)

    async def _apply(self, scope: Scope, receive: Receive, send: Send, faults: Faults, order: str | None) -> None:
        if order is None:
            await self.app(scope, receive, send)
            return
        if faults.in_flight[order] > 0:
            faults.overlaps.append({"order_id": order, "in_flight": faults.in_flight[order], "at": time.time()})
        faults.in_flight[order] += 1
        faults.current += 1
        faults.max_in_flight = max(faults.max_in_flight, faults.current)
        status = {"code": 500}

        async def capture(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            low, high = faults.latency
            if high > 0:
                await asyncio.sleep(faults.rng.uniform(low, high))
            await self.app(scope, receive, capture)
        finally:
            faults.in_flight[order] -= 1
            faults.current -= 1
            if 200 <= status["code"] < 300:
                faults.applied[order] += 1

    async def _inject(self, kind: str, faults: Faults, send: Send) -> None:
        if kind == "timeout":
            await asyncio.sleep(faults.hang_seconds)
            await _answer(send, 504, b"<html>gateway timeout</html>", "text/html")
        elif kind == "drop":
            headers = [(b"content-type", b"application/json"), (b"content-length", b"64")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            raise httpx.RemoteProtocolError("Server disconnected without sending a complete response.")
        elif kind == "malformed":
            await _answer(send, 200, b'{"status": "succ', "application/json")
        elif kind in ("down", "503"):
            await _answer(send, 503, b"<html>Service Unavailable</html>", "text/html")
        elif kind == "500":
            await _answer(send, 500, self.error_body(500, "Internal server error", None), "application/json")
        elif kind == "408":
            body = self.error_body(408, "Request timed out.", None)
            await _answer(send, 408, body, "application/json", [(b"retry-after", f"{faults.retry_after:g}".encode())])
        elif kind == "concurrency":
            body = self.error_body(429, "Too many concurrent requests.", "PLATFORM.CONCURRENCY_LIMIT_EXCEEDED")
            await _answer(send, 429, body, "application/json")
        else:  # 429
            body = self.error_body(429, "Too many requests.", faults.code_429 or "PLATFORM.RATE_LIMIT_EXCEEDED")
            extra = [(b"retry-after", f"{faults.retry_after:g}".encode())]
            await _answer(send, 429, body, "application/json", extra)


def _answer_lost(send: Send) -> Send:
    """The answer never arrives whole: its status line goes out, then the connection drops."""

    async def lose(message: Any) -> None:
        if message["type"] == "http.response.start":
            headers = [(b"content-type", b"application/json"), (b"content-length", b"64")]
            await send({"type": "http.response.start", "status": message["status"], "headers": headers})
        elif not message.get("more_body", False):
            raise httpx.RemoteProtocolError("Server disconnected without sending a complete response.")

    return lose


async def _answer(
    send: Send, status: int, body: bytes, media: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [(b"content-type", media.encode()), (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _route_path(scope: Scope) -> str:
    path, root = scope["path"], scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def fault_routes(state: Any) -> list[Route]:
    """`GET|POST|DELETE /_sandbox/faults`."""

    async def show(request: Request) -> JSONResponse:
        return JSONResponse(state.faults.to_json())

    async def configure(request: Request) -> JSONResponse:
        try:
            state.faults.configure(parse_json(await request.body()))
        except InvalidJson:
            return JSONResponse({"error": "MALFORMED_BODY", "message": "the body is not JSON"}, status_code=400)
        except BadFaults as bad:
            return JSONResponse({"error": "INVALID_FAULTS", "message": str(bad)}, status_code=400)
        return JSONResponse(state.faults.to_json())

    async def clear(request: Request) -> JSONResponse:
        state.faults.switch_off()
        return JSONResponse(state.faults.to_json())

    return [
        Route(f"{CONTROL_PREFIX}faults", show, methods=["GET"]),
        Route(f"{CONTROL_PREFIX}faults", configure, methods=["POST"]),
        Route(f"{CONTROL_PREFIX}faults", clear, methods=["DELETE"]),
    ]
