"""The StackOne adapter: sends translated results with `PATCH /unified/ats/assessments/orders/{id}/result`."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from urllib.parse import quote

import httpx

from providers._http import parse_payload, provider_errors, raise_for_provider
from providers.connections import Connection
from providers.errors import DomainError, InvalidInputError, UnsupportedByProviderError
from providers.models import (
    AssessmentOrder,
    AssessmentResult,
    ProviderName,
    ResultUpdate,
)
from providers.protocol import PreparedWrite, WriteOutcome
from providers.stackone.mapping import result_to_stackone
from providers.stackone.payloads import UpdateResult

# 412: "linked account belongs to a disabled integration"; 501: "This functionality is not implemented".
# Neither is fixed by retrying or by changing the input (SO-spec-2502 responses).
_BY_STATUS: dict[int, type[DomainError]] = {
    412: UnsupportedByProviderError,
    501: UnsupportedByProviderError,
}


def classify(response: httpx.Response) -> type[DomainError] | None:
    """StackOne has no structured error codes; only the statuses the shared table gets wrong."""
    return _BY_STATUS.get(response.status_code)


class StackOneProvider:
    """One StackOne linked account (`x-account-id`)."""

    name = ProviderName.STACKONE

    def __init__(self, connection: Connection, client: httpx.AsyncClient) -> None:
        self.connection = connection
        self._client = client

    def prepare_result(
        self,
        order: AssessmentOrder,
        update: ResultUpdate,
        previous: AssessmentResult | None,
        now: datetime,
    ) -> PreparedWrite:
        return result_to_stackone(order, update, now)

    async def send_result(self, order: AssessmentOrder, prepared: PreparedWrite) -> WriteOutcome:
        """PATCH the result; the answer is `{statusCode, message, timestamp}`."""
        headers = self._headers()
        with provider_errors(self.name):
            response = await self._client.patch(
                _result_path(order.provider_order_id),
                params=prepared.params,
                content=json.dumps(prepared.body).encode(),
                headers=headers,
            )
            raise_for_provider(response, self.name, classify=classify)
            answer = parse_payload(UpdateResult, response.content, provider=self.name)
            _raise_for_late_error(response, answer)
        return WriteOutcome(status_code=response.status_code, message=answer.message)

    def _headers(self) -> dict[str, str]:
        account_id = self.connection.account_id
        if not account_id:
            raise InvalidInputError("the connection has no account_id configured", provider=self.name)
        token = base64.b64encode(f"{self.connection.api_key}:".encode()).decode("ascii")
        headers = {
            "Authorization": f"Basic {token}",
            "x-account-id": account_id,
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        if self.connection.prefer_heartbeat:
            headers["Prefer"] = "heartbeat"
        return headers


def _raise_for_late_error(response: httpx.Response, answer: UpdateResult) -> None:
    """With `Prefer: heartbeat` the HTTP status (200) is sent before the outcome is known, so a
    failure can only arrive as the body's `statusCode`: judge it by the same rules as a real status."""
    status = int(answer.statusCode)
    if status < 400 or status > 599:
        return
    late = httpx.Response(status, headers=response.headers, request=response.request)
    raise_for_provider(late, ProviderName.STACKONE, classify=classify)


def _result_path(order_id: str) -> str:
    return f"/unified/ats/assessments/orders/{quote(order_id, safe='')}/result"
