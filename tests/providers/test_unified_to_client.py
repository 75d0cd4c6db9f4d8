"""UnifiedToProvider over httpx.MockTransport: the exact request sent, the answer parsed, every error mapped."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from providers.connections import Connection
from providers.errors import (
    DomainError,
    OrderNotFoundError,
    ProviderAuthError,
    ProviderBadResponseError,
    ProviderRateLimitedError,
    ProviderRejectedInputError,
    ProviderUnavailableError,
)
from providers.models import AssessmentOrder, OrderStatus, ProviderName, ResultUpdate
from providers.protocol import AssessmentProvider
from providers.unified_to.client import UnifiedToProvider
from tests.spec_check import assert_request_matches_spec

BASE_URL = "http://unified.test"
WS, CN = "66a1f0c2b7e4a9d3c1f0e8a0", "66a1f0c2b7e4a9d3c1f0e8a1"
NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
RAW_ORDER: dict[str, Any] = {
    "id": "uo_7Jk2Lm9Qp",
    "workspace_id": WS,
    "connection_id": CN,
    "status": "OPEN",
    "package_id": "typescript-senior",
    "candidate_id": "cand-881",
    "profile_first_name": "Ada",
    "profile_emails": ["ada@example.com"],
}
SECRET = "candidate-ssn-123-45-6789"  # stands for PII a provider body could carry

Handler = Callable[[httpx.Request], httpx.Response]


def _connection(base_url: str = BASE_URL, **overrides: Any) -> Connection:
    fields: dict[str, Any] = {
        "id": "conn-unified",
        "provider": ProviderName.UNIFIED_TO,
        "base_url": base_url,
        "api_key": "unified-test-key",
        "connection_id": CN,
        "workspace_id": WS,
        **overrides,
    }
    return Connection(**fields)


def _order(raw: dict[str, Any] | None = None) -> AssessmentOrder:
    raw = dict(RAW_ORDER if raw is None else raw)
    return AssessmentOrder(
        connection_id="conn-unified",
        provider=ProviderName.UNIFIED_TO,
        provider_order_id=raw["id"],
        status=OrderStatus.OPEN,
        provider_status="OPEN",
        raw=raw,
    )


class Recorder:
    """A MockTransport handler that records each request, checks it against the spec, and answers."""

    def __init__(self, answer: Handler) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert_request_matches_spec("unified_to", request)
        return self.answer(request)


def _echo(request: httpx.Request) -> httpx.Response:
    """Unified answers with the stored order: here the body it got plus an `updated_at`."""
    return httpx.Response(200, json={**json.loads(request.content), "updated_at": "2026-11-02T09:30:01Z"})


def _adapter(handler: Handler, connection: Connection | None = None) -> UnifiedToProvider:
    connection = connection or _connection()
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url=connection.base_url)
    return UnifiedToProvider(connection, client)


async def _write(adapter: UnifiedToProvider, update: ResultUpdate, order: AssessmentOrder | None = None) -> Any:
    order = order or _order()
    prepared = adapter.prepare_result(order, update, None, NOW)
    return prepared, await adapter.send_result(order, prepared)


def test_adapter_fits_the_protocol() -> None:
    adapter: AssessmentProvider = _adapter(_echo)
    assert adapter.name is ProviderName.UNIFIED_TO
    assert adapter.connection.id == "conn-unified"


async def test_sends_the_whole_order_with_the_result() -> None:
    # given a sandbox-like Unified that echoes the order back
    recorder = Recorder(_echo)
    update = ResultUpdate.model_validate(
        {"status": "COMPLETED", "outcome": "PASSED", "score": {"value": 91, "max": 100},
         "result_url": "https://vendor.example.com/r/1", "completed_at": "2026-11-02T09:00:00Z"}
    )
    # when the result is written
    prepared, outcome = await _write(_adapter(recorder), update)
    # then one PUT went to the connection's order path with auth and JSON
    (request,) = recorder.requests
    assert request.method == "PUT"
    assert str(request.url) == f"{BASE_URL}/assessment/{CN}/order/uo_7Jk2Lm9Qp"
    assert request.headers["authorization"] == "Bearer unified-test-key"
    assert request.headers["content-type"] == "application/json"
    body = json.loads(request.content)
    assert body == prepared.body
    assert body == {
        **RAW_ORDER, "status": "COMPLETED", "response_status": "COMPLETED", "response_score": 91,
        "response_max_score": 100, "response_url": "https://vendor.example.com/r/1",
        "response_completed_at": "2026-11-02T09:00:00.000Z",
        "response_attributes": [{"type": "TEXT", "label": "Outcome", "value": "Passed"}],
    }
    # and the returned order is translated into the outcome
    assert outcome.status_code == 200
    assert outcome.provider_warnings == ()
    assert outcome.order is not None
    assert outcome.order.status is OrderStatus.COMPLETED
    assert outcome.order.provider_status == "COMPLETED"
    assert outcome.order.updated_at == datetime(2026, 11, 2, 9, 30, 1, tzinfo=UTC)
    assert outcome.order.raw["response_score"] == 91
    assert outcome.order.connection_id == "conn-unified"


async def test_seed_004_request() -> None:
    # given the seed's server, connection id and order id
    recorder = Recorder(_echo)
    connection = _connection("https://api.unified.to", connection_id="5de520f96e439b002043d8dc")
    order = _order({"id": "5de520f96e439b002043d8d8", "workspace_id": WS, "status": "OPEN"})
    update = ResultUpdate.model_validate({"status": "IN_PROGRESS", "passthrough": {"fields": "", "raw": ""}})
    # when written
    await _write(_adapter(recorder, connection), update, order)
    # then the URL is the seed's, the tenant ids are in the body, and empty query values are not sent
    (request,) = recorder.requests
    assert str(request.url) == (
        "https://api.unified.to/assessment/5de520f96e439b002043d8dc/order/5de520f96e439b002043d8d8"
    )
    assert request.headers["authorization"].lower().startswith("bearer ")
    body = json.loads(request.content)
    assert (body["workspace_id"], body["connection_id"]) == (WS, "5de520f96e439b002043d8dc")


async def test_query_passthrough_is_encoded() -> None:
    recorder = Recorder(_echo)
    update = ResultUpdate.model_validate(
        {"status": "OPEN", "passthrough": {"raw": {"foo": "bar", "zoo": "bar"}, "body": {"stage": "x"}}}
    )
    await _write(_adapter(recorder), update)
    (request,) = recorder.requests
    # the documented encoding: raw parameters foo=bar&zoo=bar -> raw=foo%3Dbar%26zoo%3Dbar
    assert request.url.query == b"raw=foo%3Dbar%26zoo%3Dbar"
    assert json.loads(request.content)["raw"] == {"stage": "x"}


async def test_fields_projection_is_completed_from_what_was_sent() -> None:
    # given Unified answers only the requested fields (plus id)
    def projected(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"id": "uo_7Jk2Lm9Qp", "status": "REJECTED"})

    recorder = Recorder(projected)
    update = ResultUpdate.model_validate({"status": "CANCELLED", "passthrough": {"fields": ["status"]}})
    # when written
    prepared, outcome = await _write(_adapter(recorder), update)
    # then the query asks for the field and the order keeps what was sent for the rest
    (request,) = recorder.requests
    assert request.url.params["fields"] == "status"
    assert [(w.code, w.field) for w in prepared.warnings] == [("APPROXIMATED", "status")]
    assert outcome.order is not None
    assert outcome.order.status is OrderStatus.REJECTED
    assert outcome.order.raw["profile_first_name"] == "Ada"
    assert outcome.order.raw["response_status"] == "REJECTED"


async def test_ids_are_escaped_in_the_path() -> None:
    recorder = Recorder(_echo)
    order = _order({**RAW_ORDER, "id": "uo 1/2"})
    await _write(_adapter(recorder), ResultUpdate(status=OrderStatus.OPEN), order)
    (request,) = recorder.requests
    assert request.url.raw_path == f"/assessment/{CN}/order/uo%201%2F2".encode()


async def test_base_path_is_kept() -> None:
    recorder = Recorder(_echo)
    await _write(_adapter(recorder, _connection("http://sandbox/unified_to")), ResultUpdate(status=OrderStatus.OPEN))
    (request,) = recorder.requests
    assert request.url.path == f"/unified_to/assessment/{CN}/order/uo_7Jk2Lm9Qp"


# --------------------------------------------------------------------------- errors


def _status(code: int, headers: dict[str, str] | None = None) -> Handler:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(code, json={"status": code, "message": SECRET}, headers=headers)

    return answer


def _raising(exc: type[httpx.TransportError]) -> Handler:
    def answer(request: httpx.Request) -> httpx.Response:
        raise exc("simulated", request=request)

    return answer


def _bytes(content: bytes) -> Handler:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=content, headers={"content-type": "application/json"})

    return answer


@pytest.mark.parametrize(
    ("_case", "handler", "error", "status"),
    [
        ("401", _status(401), ProviderAuthError, 401),
        ("403", _status(403), ProviderAuthError, 403),
        ("404", _status(404), OrderNotFoundError, 404),
        ("400", _status(400), ProviderRejectedInputError, 400),
        ("422", _status(422), ProviderRejectedInputError, 422),
        ("429", _status(429), ProviderRateLimitedError, 429),
        ("500", _status(500), ProviderUnavailableError, 500),
        ("503", _status(503), ProviderUnavailableError, 503),
        ("read_timeout", _raising(httpx.ReadTimeout), ProviderUnavailableError, None),
        ("connect_error", _raising(httpx.ConnectError), ProviderUnavailableError, None),
        ("not_json", _bytes(b"<html>oops</html>"), ProviderBadResponseError, None),
        ("json_list", _bytes(b"[]"), ProviderBadResponseError, None),
        ("wrong_type", _bytes(b'{"id": "uo_7Jk2Lm9Qp", "response_score": "high"}'), ProviderBadResponseError, None),
        ("no_id", _bytes(b'{"status": "OPEN"}'), ProviderBadResponseError, None),
        ("empty", _bytes(b""), ProviderBadResponseError, None),
    ],
)
async def test_errors(_case: str, handler: Handler, error: type[DomainError], status: int | None) -> None:
    recorder = Recorder(handler)
    with pytest.raises(DomainError) as raised:
        await _write(_adapter(recorder), ResultUpdate(status=OrderStatus.COMPLETED))
    assert type(raised.value) is error
    assert raised.value.status == status
    assert raised.value.provider is ProviderName.UNIFIED_TO
    assert SECRET not in raised.value.message
    assert len(recorder.requests) == 1


async def test_rate_limit_retry_after() -> None:
    recorder = Recorder(_status(429, {"Retry-After": "17"}))
    with pytest.raises(ProviderRateLimitedError) as raised:
        await _write(_adapter(recorder), ResultUpdate(status=OrderStatus.COMPLETED))
    assert raised.value.retry_after == 17.0
    assert raised.value.extensions["retryAfter"] == 17.0


async def test_refused_translation_sends_nothing() -> None:
    recorder = Recorder(_echo)
    adapter = _adapter(recorder)
    with pytest.raises(DomainError):
        adapter.prepare_result(_order(), ResultUpdate(status=OrderStatus.EXPIRED), None, NOW)
    assert recorder.requests == []


async def test_every_write_goes_to_the_configured_connection_whatever_the_stored_order_says() -> None:
    # given an order whose stored body names another connection and workspace of the same account
    recorder = Recorder(_echo)
    order = _order({**RAW_ORDER, "connection_id": "conn-of-someone-else", "workspace_id": "ws-other"})
    # when a result is written
    prepared, _ = await _write(_adapter(recorder), ResultUpdate(status=OrderStatus.COMPLETED), order)
    # then the path and the body carry the connection's configured ids
    (request,) = recorder.requests
    assert request.url.raw_path == f"/assessment/{CN}/order/uo_7Jk2Lm9Qp".encode()
    body = json.loads(request.content)
    assert (body["connection_id"], body["workspace_id"]) == (CN, WS)
    # and even a prepared write recorded with a foreign id goes to the configured path, with the configured id
    forged = prepared.model_copy(update={"body": {**prepared.body, "connection_id": "conn-of-someone-else"}})
    await _adapter(recorder).send_result(order, forged)
    assert recorder.requests[-1].url.raw_path == f"/assessment/{CN}/order/uo_7Jk2Lm9Qp".encode()
    assert json.loads(recorder.requests[-1].content)["connection_id"] == CN
