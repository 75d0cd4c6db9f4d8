"""One adapter per configured connection, chosen by provider."""

from __future__ import annotations

import httpx

from providers.connections import Connection
from providers.kombo.client import KomboProvider
from providers.models import ProviderName
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


def http_client(connection: Connection, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """The connection's HTTP client: base URL and timeouts (connect 5 s, whole call per connection)."""
    timeout = httpx.Timeout(connection.timeout_seconds, connect=min(5.0, connection.timeout_seconds))
    return httpx.AsyncClient(
        base_url=connection.base_url,
        timeout=timeout,
        transport=transport,
        headers={"user-agent": "assessment-gateway/0.1"},
    )
