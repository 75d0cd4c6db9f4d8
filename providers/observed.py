"""A transport that reports every provider call (provider, connection, status, seconds) to an observer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

from providers.connections import Connection

# provider, connection id, status ("200", "503", "timeout", "error", "cancelled"), seconds to the answer's headers
CallObserver = Callable[[str, str, str, float], None]
TransportWrapper = Callable[[httpx.AsyncBaseTransport, Connection], httpx.AsyncBaseTransport]


class ObservedTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, connection: Connection, observe: CallObserver) -> None:
        self.inner = inner
        self.provider = connection.provider.value
        self.connection_id = connection.id
        self.observe = observe

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        start = time.perf_counter()
        status = "error"
        try:
            response = await self.inner.handle_async_request(request)
            status = str(response.status_code)
            return response
        except httpx.TimeoutException:
            status = "timeout"
            raise
        except asyncio.CancelledError:  # the connection guard's whole-call deadline
            status = "cancelled"
            raise
        finally:
            self.observe(self.provider, self.connection_id, status, time.perf_counter() - start)

    async def aclose(self) -> None:
        await self.inner.aclose()


def observed(observe: CallObserver) -> TransportWrapper:
    def wrap(inner: httpx.AsyncBaseTransport, connection: Connection) -> httpx.AsyncBaseTransport:
        return ObservedTransport(inner, connection, observe)

    return wrap
