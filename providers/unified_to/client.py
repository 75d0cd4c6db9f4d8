"""The Unified.to adapter: sends translated results with `PUT /assessment/{connection_id}/order/{id}`."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from providers._http import parse_payload, provider_errors, raise_for_provider
from providers.connections import Connection
from providers.models import (
    AssessmentOrder,
    AssessmentResult,
    ProviderName,
    ResultUpdate,
)
from providers.protocol import PreparedWrite, WriteOutcome
from providers.unified_to.mapping import order_from_unified_to, result_to_unified_to
from providers.unified_to.payloads import UnifiedOrder


class UnifiedToProvider:
    """One Unified.to connection. Unified documents no error body, so errors go by HTTP status."""

    name = ProviderName.UNIFIED_TO

    def __init__(self, connection: Connection, client: httpx.AsyncClient) -> None:
        """`client` is the connection's own: the headers every request carries are set on it once
        (the tenant is addressed by path, `{connection_id}`: Unified.to has no tenant header)."""
        self.connection = connection
        self._client = client
        client.headers.update({"Authorization": f"Bearer {connection.api_key}", "Accept": "application/json"})

    def prepare_result(
        self,
        order: AssessmentOrder,
        update: ResultUpdate,
        previous: AssessmentResult | None,
        now: datetime,
    ) -> PreparedWrite:
        return result_to_unified_to(order, update, now, self.connection)

    async def send_result(self, order: AssessmentOrder, prepared: PreparedWrite) -> WriteOutcome:
        """PUT the whole order; the answer is the updated order, translated into `WriteOutcome.order`."""
        with provider_errors(self.name):
            response = await self._client.put(
                _order_path(self._tenant, order.provider_order_id),
                params=prepared.params or None,  # (an empty mapping would cost httpx a second URL parse)
                json={**prepared.body, "connection_id": self._tenant},  # (Content-Type: application/json)
            )
            raise_for_provider(response, self.name)
            returned = self._returned_order(order, prepared, response)
        return WriteOutcome(status_code=response.status_code, order=returned)

    @property
    def _tenant(self) -> str:
        """The configured `connection_id` (required by the settings): every write addresses it."""
        return self.connection.connection_id or ""

    def _returned_order(
        self, order: AssessmentOrder, prepared: PreparedWrite, response: httpx.Response
    ) -> AssessmentOrder:
        parse_payload(UnifiedOrder, response.content, provider=self.name)
        payload: dict[str, Any] = json.loads(response.content)
        if "fields" in prepared.params:
            # A `fields` projection answers with only some fields: the rest are what we just sent.
            payload = {**prepared.body, "id": order.provider_order_id, **payload}
        return order_from_unified_to(self.connection.id, payload)


def _order_path(connection_id: str, order_id: str) -> str:
    return f"/assessment/{quote(connection_id, safe='')}/order/{quote(order_id, safe='')}"
