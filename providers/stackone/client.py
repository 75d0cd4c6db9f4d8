"""The StackOne adapter: sends translated results with `PATCH /unified/ats/assessments/orders/{id}/result`
and fetches the candidate, application and job of orders that arrived as ids only."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict

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
from providers.stackone.webhooks import (
    ApplicationDetails,
    CandidateDetails,
    JobDetails,
    order_with_details,
)

D = TypeVar("D", bound=BaseModel)

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
        """`client` is the connection's own: the headers every request carries are set on it once."""
        self.connection = connection
        self._client = client
        if connection.account_id:
            client.headers.update(_headers(connection))

    def prepare_result(
        self,
        order: AssessmentOrder,
        update: ResultUpdate,
        previous: AssessmentResult | None,
        now: datetime,
    ) -> PreparedWrite:
        return result_to_stackone(order, update, now, previous.update if previous is not None else None)

    async def send_result(self, order: AssessmentOrder, prepared: PreparedWrite) -> WriteOutcome:
        """PATCH the result; the answer is `{statusCode, message, timestamp}`."""
        self._require_account()
        with provider_errors(self.name):
            response = await self._client.patch(
                _result_path(order.provider_order_id),
                params=prepared.params or None,  # (an empty mapping would cost httpx a second URL parse)
                json=prepared.body,  # (Content-Type: application/json)
            )
            raise_for_provider(response, self.name, classify=classify)
            answer = parse_payload(UpdateResult, response.content, provider=self.name)
            _raise_for_late_error(response, answer)
        return WriteOutcome(status_code=response.status_code, message=answer.message)

    async def fetch_order_details(self, order: AssessmentOrder) -> AssessmentOrder:
        """The order with its candidate, application and job read from StackOne's ATS endpoints
        (`GET /unified/ats/{candidates|applications|jobs}/{id}`); parts without an id are skipped.

        Raises OrderNotFoundError, ProviderAuthError, ProviderRateLimitedError,
        ProviderUnavailableError, ProviderBadResponseError.
        """
        job_id = order.job.remote_id if order.job else None
        application_id = order.application.remote_id if order.application else None
        candidate = await self._details("candidates", order.candidate.remote_id, CandidateDetails)
        application = await self._details("applications", application_id, ApplicationDetails)
        job = await self._details("jobs", job_id, JobDetails)
        return order_with_details(order, candidate, application, job)

    async def _details(self, kind: str, record_id: str | None, model: type[D]) -> D | None:
        if not record_id:
            return None
        self._require_account()
        with provider_errors(self.name):
            response = await self._client.get(f"/unified/ats/{kind}/{quote(record_id, safe='')}")
            raise_for_provider(response, self.name, classify=classify)
            envelope = parse_payload(_DataEnvelope, response.content, provider=self.name)
        return parse_payload(model, json.dumps(envelope.data).encode(), provider=self.name)

    def _require_account(self) -> None:
        """Every request names the linked account (its headers are on the client, `__init__`)."""
        if not self.connection.account_id:
            raise InvalidInputError("the connection has no account_id configured", provider=self.name)


class _DataEnvelope(BaseModel):
    """`CandidateResult` / `ApplicationResult` / `JobResult`: the record is under `data`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    data: dict[str, Any]


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


def _headers(connection: Connection) -> dict[str, str]:
    """What every request of a connection carries: Basic auth with the API key, the linked account,
    and `Prefer: heartbeat` when configured."""
    token = base64.b64encode(f"{connection.api_key}:".encode()).decode("ascii")
    headers = {"Authorization": f"Basic {token}", "x-account-id": connection.account_id or "", "Accept": "application/json"}
    if connection.prefer_heartbeat:
        headers["Prefer"] = "heartbeat"
    return headers
