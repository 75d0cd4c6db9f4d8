"""StackOneProvider over httpx.MockTransport: the exact request sent, the answer parsed, every error mapped."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from providers.connections import Connection
from providers.errors import (
    DomainError,
    InvalidInputError,
    OrderNotFoundError,
    ProviderAuthError,
    ProviderBadResponseError,
    ProviderRateLimitedError,
    ProviderRejectedInputError,
    ProviderUnavailableError,
    ResultConflictError,
    UnsupportedByProviderError,
)
from providers.models import (
    AssessmentOrder,
    Candidate,
    OrderStatus,
    ProviderName,
    ResultUpdate,
)
from providers.protocol import AssessmentProvider
from providers.stackone.client import StackOneProvider
from tests.spec_check import assert_request_matches_spec

BASE_URL = "https://api.stackone.com"
ORDER_ID = "5a1d3f0e-7c2b-4e8a-9f61-0b3c2d4e5f60"
CANDIDATE_ID = "8187e5da-dc77-475e-9949-af0f1fa4e4e3"
NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
OK = {"statusCode": 200, "message": "Record updated successfully.", "timestamp": "2021-01-01T01:01:01.000Z"}
SECRET = "candidate-ssn-123-45-6789"  # stands for PII a provider body could carry
SEED_UPDATE = {
    "status": "COMPLETED", "outcome": "PASSED",
    "score": {"value": 80, "min": 0, "max": 100, "label": "Percentage"},
    "summary": "Test is passed", "result_url": "https://exmaple.com/result?id=xyz",
    "started_at": "2021-01-01T01:01:01.000Z", "completed_at": "2021-01-01T01:01:01.000Z",
    "attachments": [{"url": "http://example.com/resume.pdf", "content_type": "text/plain"}],
    "candidate_profile_url": "https://exmaple.com/candidate?id=xyz",
    "passthrough": {"other_known_names": "John Doe"},
}  # fmt: skip

Handler = Callable[[httpx.Request], httpx.Response]


def _connection(base_url: str = BASE_URL, **overrides: Any) -> Connection:
    fields: dict[str, Any] = {
        "id": "conn-stackone",
        "provider": ProviderName.STACKONE,
        "base_url": base_url,
        "api_key": "stackone-test-key",
        "account_id": "45072196112816593343",
        **overrides,
    }
    return Connection(**fields)


def _order(order_id: str = ORDER_ID) -> AssessmentOrder:
    return AssessmentOrder(
        connection_id="conn-stackone",
        provider=ProviderName.STACKONE,
        provider_order_id=order_id,
        status=OrderStatus.OPEN,
        candidate=Candidate(remote_id=CANDIDATE_ID),
        raw={"id": order_id, "candidate": {"id": CANDIDATE_ID}},
    )


class Recorder:
    """A MockTransport handler that records each request, checks it against the spec, and answers."""

    def __init__(self, answer: Handler) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert_request_matches_spec("stackone", request)
        return self.answer(request)


def _json(code: int, body: Any, headers: dict[str, str] | None = None) -> Handler:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(code, json=body, headers=headers)

    return answer


def _bytes(content: bytes, code: int = 200) -> Handler:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(code, content=content, headers={"content-type": "application/json"})

    return answer


def _adapter(handler: Handler, connection: Connection | None = None) -> StackOneProvider:
    connection = connection or _connection()
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url=connection.base_url)
    return StackOneProvider(connection, client)


async def _write(adapter: StackOneProvider, update: ResultUpdate, order: AssessmentOrder | None = None) -> Any:
    order = order or _order()
    prepared = adapter.prepare_result(order, update, None, NOW)
    return prepared, await adapter.send_result(order, prepared)


def test_adapter_fits_the_protocol() -> None:
    adapter: AssessmentProvider = _adapter(_json(200, OK))
    assert adapter.name is ProviderName.STACKONE
    assert adapter.connection.id == "conn-stackone"


async def test_seed_001_request() -> None:
    # given StackOne answering the documented 200
    recorder = Recorder(_json(200, OK))
    # when the API reference's example is written
    prepared, outcome = await _write(_adapter(recorder), ResultUpdate.model_validate(SEED_UPDATE))
    # then one PATCH went to the seed's URL with Basic auth (key as username), the account and JSON
    (request,) = recorder.requests
    assert request.method == "PATCH"
    assert str(request.url) == f"{BASE_URL}/unified/ats/assessments/orders/{ORDER_ID}/result"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"stackone-test-key:").decode()
    assert request.headers["x-account-id"] == "45072196112816593343"
    assert request.headers["content-type"] == "application/json"
    assert "prefer" not in request.headers
    body = json.loads(request.content)
    assert body == prepared.body
    assert body == {
        "score": {"label": "Percentage", "value": "80", "min": "0", "max": "100"},
        "start_date": "2021-01-01T01:01:01.000Z", "submission_date": "2021-01-01T01:01:01.000Z",
        "summary": "Test is passed", "result": {"value": "passed", "source_value": "Passed"},
        "result_url": "https://exmaple.com/result?id=xyz",
        "attachments": [{"url": "http://example.com/resume.pdf",
                         "content_type": {"value": "text", "source_value": "text/plain"}}],
        "candidate": {"id": CANDIDATE_ID, "profile_url": "https://exmaple.com/candidate?id=xyz"},
        "passthrough": {"other_known_names": "John Doe"},
    }  # fmt: skip
    # and the answer is parsed
    assert outcome.status_code == 200
    assert outcome.message == "Record updated successfully."
    assert outcome.provider_warnings == ()
    assert outcome.order is None


async def test_heartbeat_is_asked_for_and_tolerated() -> None:
    # given a heartbeat connection and StackOne sending keep-alive newlines before the JSON
    recorder = Recorder(_bytes(b"\n\n\r\n" + json.dumps(OK).encode()))
    adapter = _adapter(recorder, _connection(prefer_heartbeat=True))
    # when a result is written
    _, outcome = await _write(adapter, ResultUpdate(status=OrderStatus.IN_PROGRESS))
    # then the SDK's Prefer header went out and the answer still parses
    (request,) = recorder.requests
    assert request.headers["prefer"] == "heartbeat"
    assert outcome.message == "Record updated successfully."


async def test_heartbeat_answer_carrying_an_error() -> None:
    # given a heartbeat 200 whose final JSON reports a 429 (the status line left before the outcome was known)
    late = {"statusCode": 429, "message": SECRET, "timestamp": "2026-11-02T09:30:00.000Z"}
    recorder = Recorder(_bytes(b"\n\n" + json.dumps(late).encode()))
    adapter = _adapter(recorder, _connection(prefer_heartbeat=True))
    # when written; then the body's status decides the error
    with pytest.raises(ProviderRateLimitedError) as raised:
        await _write(adapter, ResultUpdate(status=OrderStatus.COMPLETED))
    assert raised.value.status == 429
    assert SECRET not in raised.value.message


async def test_ids_are_escaped_and_base_path_kept() -> None:
    recorder = Recorder(_json(200, OK))
    adapter = _adapter(recorder, _connection("http://sandbox/stackone"))
    await _write(adapter, ResultUpdate(status=OrderStatus.OPEN), _order("so 1/2"))
    (request,) = recorder.requests
    assert request.url.raw_path == b"/stackone/unified/ats/assessments/orders/so%201%2F2/result"


async def test_missing_account_id_sends_nothing() -> None:
    recorder = Recorder(_json(200, OK))
    adapter = _adapter(recorder, _connection(account_id=None))
    with pytest.raises(InvalidInputError) as raised:
        await _write(adapter, ResultUpdate(status=OrderStatus.COMPLETED))
    assert "account_id" in raised.value.message
    assert recorder.requests == []


@pytest.mark.parametrize(
    ("_case", "status"),
    [(status.value, status) for status in OrderStatus],
)
async def test_every_status_fits_the_spec(_case: str, status: OrderStatus) -> None:
    # the Recorder validates each request against the StackOne spec (with the current-API overlay)
    recorder = Recorder(_json(200, OK))
    update = ResultUpdate.model_validate(
        {"status": status.value, "attachments": [{"url": "https://f.example.com/x.mp4", "name": "Video"},
                                                  {"url": "https://f.example.com/blob"}],
         "attributes": [{"type": "TEXT", "label": "Language", "value": "Go"}]}
    )
    await _write(_adapter(recorder), update)
    assert len(recorder.requests) == 1


# --------------------------------------------------------------------------- errors


def _error(code: int, headers: dict[str, str] | None = None) -> Handler:
    body = {"statusCode": code, "message": SECRET, "timestamp": "2026-11-02T09:30:00.000Z"}
    return _json(code, body, headers)


def _raising(exc: type[httpx.TransportError]) -> Handler:
    def answer(request: httpx.Request) -> httpx.Response:
        raise exc("simulated", request=request)

    return answer


@pytest.mark.parametrize(
    ("_case", "handler", "error", "status"),
    [
        ("400", _error(400), ProviderRejectedInputError, 400),
        ("401", _error(401), ProviderAuthError, 401),
        ("403", _error(403), ProviderAuthError, 403),
        ("404", _error(404), OrderNotFoundError, 404),
        ("408", _error(408), ProviderRateLimitedError, 408),
        ("409", _error(409), ResultConflictError, 409),
        ("412_disabled_integration", _error(412), UnsupportedByProviderError, 412),
        ("422", _error(422), ProviderRejectedInputError, 422),
        ("429", _error(429), ProviderRateLimitedError, 429),
        ("500", _error(500), ProviderUnavailableError, 500),
        ("501_not_implemented", _error(501), UnsupportedByProviderError, 501),
        ("502", _error(502), ProviderUnavailableError, 502),
        ("503_no_body", _bytes(b"", 503), ProviderUnavailableError, 503),
        ("read_timeout", _raising(httpx.ReadTimeout), ProviderUnavailableError, None),
        ("connect_error", _raising(httpx.ConnectError), ProviderUnavailableError, None),
        ("not_json", _bytes(b"<html>" + SECRET.encode() + b"</html>"), ProviderBadResponseError, None),
        ("json_list", _bytes(b"[]"), ProviderBadResponseError, None),
        ("wrong_shape", _bytes(b'{"ok": true}'), ProviderBadResponseError, None),
        ("message_not_string", _bytes(b'{"statusCode": 200, "message": 5}'), ProviderBadResponseError, None),
        ("heartbeat_only", _bytes(b"\n\n\n"), ProviderBadResponseError, None),
        ("empty", _bytes(b""), ProviderBadResponseError, None),
    ],
)
async def test_errors(_case: str, handler: Handler, error: type[DomainError], status: int | None) -> None:
    recorder = Recorder(handler)
    with pytest.raises(DomainError) as raised:
        await _write(_adapter(recorder), ResultUpdate(status=OrderStatus.COMPLETED))
    assert type(raised.value) is error
    assert raised.value.status == status
    assert raised.value.provider is ProviderName.STACKONE
    assert SECRET not in raised.value.message
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(("_case", "code"), [("429", 429), ("408_after_upstream_retries", 408)])
async def test_retry_after(_case: str, code: int) -> None:
    recorder = Recorder(_error(code, {"Retry-After": "60"}))
    with pytest.raises(ProviderRateLimitedError) as raised:
        await _write(_adapter(recorder), ResultUpdate(status=OrderStatus.COMPLETED))
    assert raised.value.retry_after == 60.0
    assert raised.value.extensions["retryAfter"] == 60.0
    assert raised.value.extensions["http"] == {"status": code}
