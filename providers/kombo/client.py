"""The Kombo adapter: results with `PUT /assessment/orders/{id}/result`, orders with `GET /assessment/orders`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from providers._http import parse_payload, provider_errors, raise_for_provider
from providers.connections import Connection
from providers.errors import (
    DomainError,
    InvalidInputError,
    ProviderAuthError,
    ProviderRateLimitedError,
    ProviderRejectedInputError,
    ProviderUnavailableError,
    UnsupportedByProviderError,
)
from providers.formats import iso_millis
from providers.kombo.mapping import order_from_kombo, result_to_kombo
from providers.kombo.payloads import (
    KOMBO_STATUSES,
    KomboErrorResponse,
    KomboOrdersPage,
    KomboWriteResponse,
)
from providers.models import (
    AssessmentOrder,
    AssessmentResult,
    ProviderName,
    ResultUpdate,
)
from providers.protocol import PreparedWrite, WriteOutcome

MAX_PAGE_SIZE = 250

# Kombo's `error.code` -> domain error (providers.md §2.5; "use the error code instead of ... HTTP status").
_BY_CODE: dict[str, type[DomainError]] = {
    "PLATFORM.RATE_LIMIT_EXCEEDED": ProviderRateLimitedError,
    "PLATFORM.CONCURRENCY_LIMIT_EXCEEDED": ProviderRateLimitedError,
    "REMOTE.RATE_LIMIT_EXCEEDED": ProviderRateLimitedError,
    "PLATFORM.AUTHENTICATION_INVALID": ProviderAuthError,
    "INTEGRATION.AUTHENTICATION_INVALID": ProviderAuthError,
    "PLATFORM.IP_NOT_WHITELISTED": ProviderAuthError,
    "INTEGRATION.PERMISSION_MISSING": ProviderAuthError,
    "PLATFORM.INTEGRATION_NOT_FOUND": ProviderAuthError,
    "PLATFORM.INPUT_INVALID": ProviderRejectedInputError,
    "REMOTE.INPUT_INVALID": ProviderRejectedInputError,
    "REMOTE.SERVICE_UNAVAILABLE": ProviderUnavailableError,
    "PLATFORM.TASK_TIMED_OUT": ProviderUnavailableError,
    "PLATFORM.UNKNOWN_ERROR": ProviderUnavailableError,
    "REMOTE.UNKNOWN_HTTP_ERROR": ProviderUnavailableError,
    "INTEGRATION.INACTIVE": UnsupportedByProviderError,
    "INTEGRATION.QA_FAILED": UnsupportedByProviderError,
}
_BY_PREFIX: tuple[tuple[str, type[DomainError]], ...] = (
    ("ATS.", ProviderRejectedInputError),
    ("INTEGRATION.SETUP_", UnsupportedByProviderError),
    ("INTEGRATION.MODEL_", UnsupportedByProviderError),
    ("INTEGRATION.ACTION_", UnsupportedByProviderError),
)


def error_code(response: httpx.Response) -> str | None:
    """The `error.code` of a Kombo error envelope, or None when the body is not one."""
    try:
        return KomboErrorResponse.model_validate_json(response.content).error.code
    except ValidationError:
        return None


def classify(response: httpx.Response) -> type[DomainError] | None:
    """The domain error for Kombo's structured code; None falls back to the HTTP status table."""
    code = error_code(response)
    if code is None:
        return None
    if code in _BY_CODE:
        return _BY_CODE[code]
    return next((error for prefix, error in _BY_PREFIX if code.startswith(prefix)), None)


class KomboProvider:
    """One Kombo integration (`X-Integration-Id`)."""

    name = ProviderName.KOMBO

    def __init__(self, connection: Connection, client: httpx.AsyncClient) -> None:
        """`client` is the connection's own: the headers every request carries are set on it once."""
        self.connection = connection
        self._client = client
        if connection.integration_id:
            client.headers.update(_headers(connection))

    def prepare_result(
        self,
        order: AssessmentOrder,
        update: ResultUpdate,
        previous: AssessmentResult | None,
        now: datetime,
    ) -> PreparedWrite:
        return result_to_kombo(order, update, now)

    async def send_result(self, order: AssessmentOrder, prepared: PreparedWrite) -> WriteOutcome:
        """PUT the result; Kombo's interaction warnings come back in `provider_warnings`."""
        self._require_integration()
        with provider_errors(self.name):
            response = await self._client.put(
                f"/assessment/orders/{quote(order.provider_order_id, safe='')}/result",
                params=prepared.params or None,  # (an empty mapping would cost httpx a second URL parse)
                json=prepared.body,  # (Content-Type: application/json)
            )
            self._raise_for_status(response)
            answer = parse_payload(KomboWriteResponse, response.content, provider=self.name)
        return WriteOutcome(
            status_code=response.status_code,
            provider_warnings=tuple(warning.message for warning in answer.warnings),
        )

    async def read_order(self, order: AssessmentOrder) -> AssessmentOrder | None:
        """The order as Kombo holds it now (reconciling a write whose outcome was not seen)."""
        found, _ = await self.list_orders(ids=[order.provider_order_id], page_size=1)
        return next((o for o in found if o.provider_order_id == order.provider_order_id), None)

    async def list_orders(
        self,
        *,
        cursor: str | None = None,
        page_size: int = 100,
        statuses: Sequence[str] | None = None,
        created_after: datetime | None = None,
        ids: Sequence[str] | None = None,
    ) -> tuple[list[AssessmentOrder], str | None]:
        """One page of `GET /assessment/orders` and the next cursor (None at the end)."""
        params = _list_params(cursor, page_size, statuses, created_after, ids)
        with provider_errors(self.name):
            self._require_integration()
            response = await self._client.get("/assessment/orders", params=params)
            self._raise_for_status(response)
            page = parse_payload(KomboOrdersPage, response.content, provider=self.name)
        orders = [order_from_kombo(self.connection.id, item) for item in page.data.results]
        return orders, page.data.next or None

    def _require_integration(self) -> None:
        """Every request names the integration (its headers are on the client, `__init__`)."""
        if not self.connection.integration_id:
            raise ProviderAuthError("The Kombo connection has no integration_id configured.", provider=self.name)

    def _raise_for_status(self, response: httpx.Response) -> None:
        if response.is_error:
            raise_for_provider(response, self.name, classify=classify, provider_code=error_code(response))


def _headers(connection: Connection) -> dict[str, str]:
    """What every request of a connection carries: the API key and the integration."""
    return {
        "Authorization": f"Bearer {connection.api_key}",
        "X-Integration-Id": connection.integration_id or "",
        "Accept": "application/json",
    }


def _list_params(
    cursor: str | None,
    page_size: int,
    statuses: Sequence[str] | None,
    created_after: datetime | None,
    ids: Sequence[str] | None,
) -> dict[str, str]:
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidInputError(f"Kombo pages hold 1 to {MAX_PAGE_SIZE} orders.", provider=ProviderName.KOMBO,
                                field="pageSize")
    unknown = sorted(set(statuses or ()) - set(KOMBO_STATUSES))
    if unknown:
        raise InvalidInputError(f"Kombo has no order status {', '.join(unknown)}.", provider=ProviderName.KOMBO,
                                field="statuses")
    params = {"page_size": str(page_size)}
    if cursor:
        params["cursor"] = cursor
    if statuses:
        params["statuses"] = ",".join(statuses)
    if created_after is not None:
        params["created_after"] = iso_millis(created_after)
    if ids:
        params["ids"] = ",".join(ids)
    return params
