"""Subscriptions over `graphql-transport-ws` (WebSocket) and `graphql-sse` (distinct connections) on /graphql.

Both transports admit an operation like the HTTP view does (client auth, rate, persisted documents,
parse and validation, scopes, limits) and then run it with `schema.subscribe`. Authentication: on
WebSocket, `connection_init`'s payload (`{"apiKey": ...}` or `{"authorization": "Bearer ..."}`; the
upgrade request's headers also count); on SSE, the request's headers. Each client may hold
`max_subscriptions_per_client` subscriptions on an instance at once. Closing codes: see docs/live.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from graphql import ExecutionResult
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from providers.errors import ErrorCode, ServiceUnavailableError
from resolvers.context import AppContext
from resolvers.live import LivePolicy, StreamSignals
from schema.context import GraphQLContext
from schema.errors import coded
from server.clients import Principal
from server.edge import Edge
from server.errors import RequestError

log = logging.getLogger("gateway.live")

PROTOCOL = "graphql-transport-ws"
_UNEXPECTED = {"message": "Unexpected error.", "extensions": {"code": ErrorCode.INTERNAL_SERVER_ERROR.value}}
SERVICE_RESTART = 1012  # the instance is shutting down (uvicorn's code too): reconnect elsewhere, resume with `after`
TOO_SLOW = 1008  # the subscriber fell behind and its client took nothing for keepalive_seconds: resume with `after`


class Admitted:
    """An operation the edge let through, ready to run."""

    def __init__(self, principal: Principal, text: str, document: Any, variables: dict[str, Any],
                 operation_name: str | None, operation_type: str, quiet: bool) -> None:  # fmt: skip
        self.principal, self.text, self.document = principal, text, document
        self.variables, self.operation_name, self.operation_type, self.quiet = (
            variables, operation_name, operation_type, quiet
        )


class Subscriptions:
    """Counts subscriptions per client and runs them; shared by both transports of one instance."""

    def __init__(
        self,
        schema: Any,
        edge: Edge,
        app_context: Callable[[], AppContext],
        settings: LivePolicy,
        format_error: Callable[[Any, bool], dict[str, Any]],
    ) -> None:
        self.schema, self.edge, self._app_context, self.settings = schema, edge, app_context, settings
        self._format_error = format_error
        self.active: dict[str, int] = {}
        self.closing = asyncio.Event()

    def acquire(self, principal: Principal) -> None:
        """Count one more subscription of the client; SUBSCRIPTION_LIMIT past its limit."""
        count = self.active.get(principal.name, 0)
        if count >= self.settings.max_subscriptions_per_client:
            raise RequestError(ErrorCode.SUBSCRIPTION_LIMIT, "Too many subscriptions for this client.", 429)
        self.active[principal.name] = count + 1

    def release(self, principal: Principal) -> None:
        self.active[principal.name] -= 1

    async def start(self, admitted: Admitted, request: Any) -> LiveStream:
        """Run the operation until a subscription is live (or it ended, or gave its first result)."""
        signals = StreamSignals()
        results = self._results(admitted, request, signals)
        first = asyncio.ensure_future(anext(results, None))
        live = asyncio.ensure_future(signals.live.wait())
        stream = LiveStream(results, signals, first)
        try:
            await asyncio.wait({first, live}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            await stream.aclose()
            raise
        finally:
            live.cancel()
        return stream

    async def _results(self, admitted: Admitted, request: Any, signals: StreamSignals) -> AsyncIterator[dict[str, Any]]:
        """The operation's results as GraphQL response objects (one for a query or mutation)."""
        app = self._app_context().for_connections(admitted.principal.connections)
        context = GraphQLContext(app=app, request=request, document=admitted.document, signals=signals)
        if admitted.operation_type != "subscription":
            result = await self.schema.execute(admitted.text, variable_values=admitted.variables,
                                               context_value=context, operation_name=admitted.operation_name)  # fmt: skip
            yield self._formatted(result, admitted.quiet)
            return
        source = await self.schema.subscribe(admitted.text, variable_values=admitted.variables,
                                             context_value=context, operation_name=admitted.operation_name)  # fmt: skip
        if isinstance(source, ExecutionResult):
            yield self._formatted(source, admitted.quiet)
            return
        async with contextlib.aclosing(source):
            async for result in source:
                formatted = self._formatted(result, admitted.quiet)
                yield formatted
                if result.errors and not result.data:  # the stream ended with an error (e.g. too slow)
                    return

    def _formatted(self, result: Any, quiet: bool) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if result.data is not None or not result.errors:
            body["data"] = result.data
        if result.errors:  # (a stream's items do not pass the schema's CodedErrors extension)
            body["errors"] = [self._format_error(_coded(e), quiet) for e in result.errors]
        return body


def _coded(error: Any) -> Any:
    return error if (error.extensions or {}).get("code") is not None else coded(error)


class LiveStream:
    """A started operation's results. `refusal`: the coded errors of a subscription that ended
    before it was live (its setup failed: cursor refused, store unreachable)."""

    def __init__(self, results: AsyncGenerator[dict[str, Any], None], signals: StreamSignals,
                 first: asyncio.Future[dict[str, Any] | None]) -> None:  # fmt: skip
        self._results, self.signals, self._first = results, signals, first

    @property
    def refusal(self) -> list[dict[str, Any]] | None:
        first = self._first
        if self.signals.live.is_set() or not first.done() or first.cancelled() or first.exception() is not None:
            return None
        item = first.result()
        return None if item is None or "data" in item else list(item.get("errors") or ())

    @property
    def unavailable(self) -> bool:
        """Refused because the store is unreachable (SERVICE_UNAVAILABLE)."""
        return any((e.get("extensions") or {}).get("code") == ErrorCode.SERVICE_UNAVAILABLE
                   for e in self.refusal or ())  # fmt: skip

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        first = await self._first
        if first is None:
            return
        yield first
        async for item in self._results:
            yield item

    async def aclose(self) -> None:
        if not self._first.done():
            self._first.cancel()
        with contextlib.suppress(BaseException):  # its outcome was (or will not be) taken
            await self._first
        await self._results.aclose()


def unavailable_response(errors: list[dict[str, Any]]) -> Response:
    """503 with Retry-After: the store is unreachable (a streaming request answered before it streams)."""
    body = json.dumps({"errors": errors}, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {"Retry-After": f"{ServiceUnavailableError.retry_after:g}"}
    return Response(body, 503, headers=headers, media_type="application/json; charset=utf-8")


# --------------------------------------------------------------------------- WebSocket


class TransportWS:
    """One `graphql-transport-ws` connection."""

    def __init__(self, websocket: WebSocket, live: Subscriptions,
                 admit: Callable[[Principal, dict[str, Any]], Awaitable[Admitted | list[Any]]]) -> None:  # fmt: skip
        self.ws, self.live, self.admit = websocket, live, admit
        self.principal: Principal | None = None
        self.operations: dict[str, asyncio.Task[None]] = {}
        self._closer: asyncio.Future[None] | None = None

    async def run(self) -> None:
        if PROTOCOL not in self.ws.scope.get("subprotocols", []):
            await self.ws.accept()
            await self.ws.close(4406, "Subprotocol not acceptable")
            return
        await self.ws.accept(subprotocol=PROTOCOL)
        keepalive = asyncio.create_task(self._keepalive())
        closing = asyncio.create_task(self.live.closing.wait())
        init = asyncio.get_running_loop().call_later(self.live.settings.connection_init_seconds, self._init_timeout)
        try:
            reader = asyncio.create_task(self._read())
            done, _ = await asyncio.wait({reader, closing}, return_when=asyncio.FIRST_COMPLETED)
            if closing in done:
                reader.cancel()
                await self._close(SERVICE_RESTART, "Server shutting down")
        finally:
            init.cancel()
            for task in (keepalive, closing, *self.operations.values()):
                task.cancel()
            if self._closer is not None:
                with contextlib.suppress(BaseException):
                    await self._closer

    def _init_timeout(self) -> None:
        if self.principal is None:
            asyncio.ensure_future(self._close(4408, "Connection initialisation timeout"))

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(self.live.settings.keepalive_seconds)
            if self.principal is not None:
                await self._send({"type": "ping"})

    async def _read(self) -> None:
        try:
            while True:
                raw = await self.ws.receive_text()
                try:
                    message = json.loads(raw)
                    kind = message["type"]
                except (ValueError, KeyError, TypeError):
                    await self._close(4400, "Invalid message")
                    return
                if not await self._handle(kind, message):
                    return
        except (WebSocketDisconnect, RuntimeError):
            return

    async def _handle(self, kind: str, message: dict[str, Any]) -> bool:
        if kind == "connection_init":
            return await self._init(message.get("payload") or {})
        if kind == "ping":
            await self._send({"type": "pong"})
        elif kind == "subscribe":
            return await self._subscribe(message)
        elif kind == "complete":
            task = self.operations.pop(str(message.get("id")), None)
            if task is not None:
                task.cancel()
        elif kind != "pong":
            await self._close(4400, f"Unknown message type {kind!r}")
            return False
        return True

    async def _init(self, payload: Any) -> bool:
        if self.principal is not None:
            await self._close(4429, "Too many initialisation requests")
            return False
        headers = dict(self.ws.headers)
        if isinstance(payload, dict):
            headers |= _auth_headers(payload)
        try:
            self.principal = await self.live.edge.authenticator.authenticate(headers)
        except RequestError:
            await self._close(4403, "Forbidden")
            return False
        await self._send({"type": "connection_ack"})
        return True

    async def _subscribe(self, message: dict[str, Any]) -> bool:
        if self.principal is None:
            await self._close(4401, "Unauthorized")
            return False
        op_id, payload = message.get("id"), message.get("payload")
        if not isinstance(op_id, str) or not isinstance(payload, dict):
            await self._close(4400, "Invalid subscribe message")
            return False
        if op_id in self.operations:
            await self._close(4409, f"Subscriber for {op_id} already exists")
            return False
        self.operations[op_id] = asyncio.create_task(self._operation(op_id, payload))
        return True

    async def _operation(self, op_id: str, payload: dict[str, Any]) -> None:
        assert self.principal is not None
        try:
            admitted = await self.admit(self.principal, payload)
            if isinstance(admitted, list):  # the document does not validate
                await self._send({"id": op_id, "type": "error", "payload": admitted})
                return
            self.live.acquire(self.principal)
            try:
                if not await self._run(op_id, admitted):
                    return
            finally:
                self.live.release(self.principal)
            await self._send({"id": op_id, "type": "complete"})
        except _Stalled:  # released first: the close waits until the client reads what is before it
            log.warning("a WebSocket subscriber fell behind and takes nothing; closing with %d", TOO_SLOW)
            await self._close(TOO_SLOW, ErrorCode.SUBSCRIBER_TOO_SLOW.value)
        except RequestError as error:
            await self._send({"id": op_id, "type": "error", "payload": [error.as_error()]})
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("subscription %s failed", op_id)
            await self._send({"id": op_id, "type": "error", "payload": [_UNEXPECTED]})
        finally:
            self.operations.pop(op_id, None)

    async def _run(self, op_id: str, admitted: Admitted) -> bool:
        """Send the operation's results; False when it was refused (an `error` message) or its client
        stopped taking them (the socket is closed): no `complete` then. Once the subscriber lags it has
        keepalive_seconds to deliver SUBSCRIBER_TOO_SLOW; a client that takes nothing blocks the socket."""
        stream = await self.live.start(admitted, self.ws)
        try:
            refusal = stream.refusal
            if refusal is not None and admitted.operation_type == "subscription":
                await self._send({"id": op_id, "type": "error", "payload": refusal})
                return False
            try:
                async with asyncio.timeout(None) as deadline:
                    _on_lag(stream.signals, deadline, self.live.settings.keepalive_seconds)
                    async with contextlib.aclosing(aiter(stream)) as results:
                        async for result in results:
                            await self._send({"id": op_id, "type": "next", "payload": result})
            except TimeoutError:
                if not deadline.expired():
                    raise
                raise _Stalled from None
            return True
        finally:
            await stream.aclose()

    async def _send(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await self.ws.send_text(json.dumps(message, separators=(",", ":"), ensure_ascii=False))

    async def _close(self, code: int, reason: str) -> None:
        """Close once (the first code wins). The close frame waits behind what the client has not read
        yet; the connection is kept until it is sent (`run` waits for it), whoever is cancelled."""
        if self._closer is None:
            self._closer = asyncio.ensure_future(self._send_close(code, reason))
        await asyncio.shield(self._closer)

    async def _send_close(self, code: int, reason: str) -> None:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await self.ws.close(code, reason)


class _Stalled(Exception):
    """A subscriber lagged and its client took nothing for the grace period."""


def _on_lag(signals: StreamSignals, deadline: asyncio.Timeout, grace: float) -> None:
    """When the subscriber lags, `deadline` falls `grace` seconds later."""

    def lagging() -> None:
        deadline.reschedule(asyncio.get_running_loop().time() + grace)

    signals.on_lag = lagging
    if signals.lagged.is_set():
        lagging()


def websocket_endpoint(live: Callable[[], Subscriptions], admit: Callable[..., Awaitable[Any]]) -> Any:
    """The ASGI WebSocket endpoint of /graphql."""

    async def endpoint(websocket: WebSocket) -> None:
        await TransportWS(websocket, live(), admit).run()

    return endpoint


def _auth_headers(payload: Mapping[str, Any]) -> dict[str, str]:
    """`connection_init` credentials as the headers the authenticator reads."""
    lowered = {str(k).lower(): v for k, v in payload.items()}
    headers = lowered.get("headers") if isinstance(lowered.get("headers"), dict) else {}
    lowered |= {str(k).lower(): v for k, v in headers.items()}
    found: dict[str, str] = {}
    for name, keys in (("x-api-key", ("x-api-key", "apikey", "api_key")), ("authorization", ("authorization",))):
        for key in keys:
            if isinstance(lowered.get(key), str):
                found[name] = lowered[key]
                break
    return found


# --------------------------------------------------------------------------- SSE


async def sse_response(live: Subscriptions, admitted: Admitted, request: Request) -> Response:
    """`graphql-sse` distinct connections mode: `next` events, then `complete`; comments keep it alive.
    SUBSCRIPTION_LIMIT, and a store outage before the subscription is live (503), are answered before
    the stream starts."""
    live.acquire(admitted.principal)
    try:
        stream = await live.start(admitted, request)
    except BaseException:
        live.release(admitted.principal)
        raise
    if stream.unavailable:
        await stream.aclose()
        live.release(admitted.principal)
        return unavailable_response(stream.refusal or [])

    async def events() -> AsyncIterator[str]:
        try:
            queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(1)

            async def pump() -> None:
                try:
                    async for result in stream:
                        await queue.put(result)
                except Exception:
                    log.exception("subscription over SSE failed")
                    await queue.put({"errors": [_UNEXPECTED]})
                await queue.put(None)

            task = asyncio.create_task(pump())
            try:
                while True:
                    item = await _next_or_keepalive(queue, live)
                    if item is _KEEPALIVE:
                        yield ":\n\n"
                        continue
                    if item is None or item is _CLOSING:
                        break
                    yield f"event: next\ndata: {json.dumps(item, separators=(',', ':'), ensure_ascii=False)}\n\n"
                if item is None:
                    yield "event: complete\ndata:\n\n"
            finally:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                await stream.aclose()
        finally:
            live.release(admitted.principal)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return _EventStream(events(), stream.signals, live.settings.keepalive_seconds, headers)


class _EventStream(StreamingResponse):
    """The SSE response. A subscriber that lags has `grace` seconds to take SUBSCRIBER_TOO_SLOW; a
    client that takes nothing meanwhile has its connection closed (SSE has no close code)."""

    def __init__(self, content: AsyncIterator[str], signals: StreamSignals, grace: float,
                 headers: dict[str, str]) -> None:  # fmt: skip
        super().__init__(content, media_type="text/event-stream; charset=utf-8", headers=headers)
        self.signals, self.grace = signals, grace

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with asyncio.timeout(None) as deadline:
                _on_lag(self.signals, deadline, self.grace)
                await super().__call__(scope, receive, send)
        except TimeoutError:
            if not deadline.expired():
                raise
            log.warning("an SSE subscriber fell behind and takes nothing; closing its connection")
        finally:
            if isinstance(self.body_iterator, AsyncGenerator):
                await self.body_iterator.aclose()


_KEEPALIVE, _CLOSING = object(), object()


async def _next_or_keepalive(queue: asyncio.Queue[Any], live: Subscriptions) -> Any:
    getter = asyncio.ensure_future(queue.get())
    closing = asyncio.ensure_future(live.closing.wait())
    done, _ = await asyncio.wait({getter, closing}, timeout=live.settings.keepalive_seconds,
                                 return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
    closing.cancel()
    if getter in done:
        return getter.result()
    getter.cancel()
    return _CLOSING if live.closing.is_set() else _KEEPALIVE
