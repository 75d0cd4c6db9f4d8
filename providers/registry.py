"""One adapter per configured connection, chosen by provider."""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from providers.connections import Connection
from providers.guard import http_timeout, limits_for
from providers.kombo.client import KomboProvider
from providers.models import ProviderName
from providers.observed import TransportWrapper
from providers.protocol import AssessmentProvider
from providers.stackone.client import StackOneProvider
from providers.unified_to.client import UnifiedToProvider

ADAPTERS: dict[ProviderName, type] = {
    ProviderName.STACKONE: StackOneProvider,
    ProviderName.KOMBO: KomboProvider,
    ProviderName.UNIFIED_TO: UnifiedToProvider,
}


def build_provider(connection: Connection, client: httpx.AsyncClient) -> AssessmentProvider:
    adapter: AssessmentProvider = ADAPTERS[connection.provider](connection, client)
    return adapter


def http_client(
    connection: Connection,
    transport: httpx.AsyncBaseTransport | None = None,
    wrap: Sequence[TransportWrapper] = (),
) -> httpx.AsyncClient:
    """The connection's HTTP client: base URL, connect and read timeouts (the whole-call deadline is
    the connection guard's, providers/guard.py). `wrap` layers observers (metrics, tracing) around
    the transport, the first innermost."""
    timeout = http_timeout(limits_for(connection))
    if wrap:
        transport = transport or httpx.AsyncHTTPTransport()
        for layer in wrap:
            transport = layer(transport, connection)
    return httpx.AsyncClient(
        base_url=connection.base_url,
        timeout=timeout,
        transport=transport,
        headers={"user-agent": "assessment-gateway/0.1"},
    )
