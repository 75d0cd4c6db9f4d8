"""KomboProvider over httpx.MockTransport: the exact requests sent, the answers parsed, every error mapped."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
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
from providers.kombo.client import KomboProvider
from providers.models import AssessmentOrder, OrderStatus, ProviderName, ResultUpdate
from providers.protocol import AssessmentProvider
from tests.spec_check import assert_request_matches_spec, response_matches_spec

BASE_URL = "http://kombo.test/v1"
INTEGRATION = "recruitee:HWUTwvyx2wLoSUHphiWVrp28"
ORDER_ID = "GRKdd9dibYKKCrmGRSMJf3wu"
NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
SECRET = "candidate-ssn-123-45-6789"  # stands for PII a provider body could carry
SUCCESS = {"status": "success", "data": {}, "warnings": [{"message": "Score label ignored by Recruitee."}]}
LIST_ITEM: dict[str, Any] = {
    "id": "B5KQKhAgTv6ZwzrfAbqbhipd",
    "package_id": "typescript_test",
    "status": "OPEN",
    "candidate": {"remote_id": "12345", "email": "john.doe@gmail.com", "first_name": "John", "last_name": "Doe",
                  "phone": None},
    "application": {"remote_id": "54321"},
    "job": {"remote_id": "67890", "name": "Bottle Opener", "job_code": None, "description": None,
            "location": None, "hiring_team": []},
}

Handler = Callable[[httpx.Request], httpx.Response]


def _connection(base_url: str = BASE_URL, **overrides: Any) -> Connection:
    fields: dict[str, Any] = {
        "id": "conn-kombo",
        "provider": ProviderName.KOMBO,
        "base_url": base_url,
        "api_key": "kombo-test-key",
        "integration_id": INTEGRATION,
        **overrides,
    }
    return Connection(**fields)


def _order(order_id: str = ORDER_ID) -> AssessmentOrder:
    return AssessmentOrder(
        connection_id="conn-kombo", provider=ProviderName.KOMBO, provider_order_id=order_id,
        status=OrderStatus.OPEN, provider_status="OPEN",
    )


class Recorder:
    """A MockTransport handler that records each request, checks it against the spec, and answers."""

    def __init__(self, answer: Handler) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert_request_matches_spec("kombo", request)
        return self.answer(request)


def _json(status: int, body: object, headers: dict[str, str] | None = None) -> Handler:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)

    return answer


def _adapter(handler: Handler, connection: Connection | None = None) -> KomboProvider:
    connection = connection or _connection()
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url=connection.base_url)
    return KomboProvider(connection, client)


async def _write(adapter: KomboProvider, update: dict[str, Any], order: AssessmentOrder | None = None) -> Any:
    order = order or _order()
    prepared = adapter.prepare_result(order, ResultUpdate.model_validate(update), None, NOW)
    return prepared, await adapter.send_result(order, prepared)


COMPLETED = {"status": "COMPLETED", "result_url": "https://vendor.example.com/r/1"}


def test_adapter_fits_the_protocol() -> None:
    adapter: AssessmentProvider = _adapter(_json(200, SUCCESS))
    assert adapter.name is ProviderName.KOMBO
    assert adapter.connection.id == "conn-kombo"


def test_canned_answers_fit_the_spec() -> None:
    response_matches_spec("kombo", "PUT", f"/v1/assessment/orders/{ORDER_ID}/result", 200, SUCCESS)
    response_matches_spec("kombo", "GET", "/v1/assessment/orders", 200,
                          {"status": "success", "data": {"next": None, "results": [LIST_ITEM]}})
    response_matches_spec("kombo", "PUT", f"/v1/assessment/orders/{ORDER_ID}/result", 429,
                          _error("PLATFORM.RATE_LIMIT_EXCEEDED"))


# --------------------------------------------------------------------------- send_result


async def test_sends_the_result() -> None:
    # given Kombo answering success with one interaction warning
    recorder = Recorder(_json(200, SUCCESS))
    update = {**COMPLETED, "outcome": "PASSED", "score": {"value": 91, "max": 100, "label": "Strong"},
              "completed_at": "2026-11-02T09:00:00Z", "summary": "Good.",
              "attributes": [{"type": "SUB_RESULT", "label": "Algorithms", "score": {"value": 8, "max": 10}}],
              "attachments": [{"url": "https://files.example.com/r/report.pdf"}]}
    # when the result is written
    prepared, outcome = await _write(_adapter(recorder), update)
    # then one PUT went to the order's result path with auth, tenant and JSON
    (request,) = recorder.requests
    assert request.method == "PUT"
    assert str(request.url) == f"{BASE_URL}/assessment/orders/{ORDER_ID}/result"
    assert request.headers["authorization"] == "Bearer kombo-test-key"
    assert request.headers["x-integration-id"] == INTEGRATION
    assert request.headers["content-type"] == "application/json"
    body = json.loads(request.content)
    assert body == prepared.body
    assert body == {
        "status": "COMPLETED", "result_url": "https://vendor.example.com/r/1",
        "completed_at": "2026-11-02T09:00:00.000Z", "score": 91, "max_score": 100,
        "attributes": [
            {"type": "SUB_RESULT", "id": "algorithms", "label": "Algorithms", "score": {"value": 8, "max": 10},
             "status": "COMPLETED"},
            {"type": "TEXT", "label": "Outcome", "value": "Passed"},
            {"type": "TEXT", "label": "Summary", "value": "Good."},
        ],
        "attachments": [{"name": "report.pdf", "content_type": "application/pdf",
                         "data_url": "https://files.example.com/r/report.pdf"}],
        "remote_fields": {"smartrecruiters": {"scoreLabel": "Strong"}},
    }
    # and Kombo's warnings come back as provider warnings
    assert outcome.status_code == 200
    assert outcome.provider_warnings == ("Score label ignored by Recruitee.",)
    assert outcome.order is None


async def test_seed_002_request() -> None:
    # given the seed's example body
    recorder = Recorder(_json(200, {"status": "success", "data": {}, "warnings": []}))
    connection = _connection("https://api.kombo.dev/v1")
    # when written
    _, outcome = await _write(_adapter(recorder, connection),
                              {"status": "CANCELLED", "result_url": "https://serene-bump.org/"})
    # then the request is the seed's, with completed_at filled in as the docs ask for CANCELLED
    (request,) = recorder.requests
    assert str(request.url) == f"https://api.kombo.dev/v1/assessment/orders/{ORDER_ID}/result"
    assert json.loads(request.content) == {
        "status": "CANCELLED", "result_url": "https://serene-bump.org/", "completed_at": "2026-11-02T09:30:00.000Z",
    }
    assert outcome.provider_warnings == ()


async def test_seed_003_request() -> None:
    recorder = Recorder(_json(200, SUCCESS))
    update = {"status": "COMPLETED", "result_url": "https://serene-bump.org/", "completed_at": "2024-01-05T14:30:00Z",
              "score": {"value": 42, "max": 50}, "attributes": [{"type": "TEXT", "label": "Level", "value": "Senior"}]}
    await _write(_adapter(recorder), update)
    (request,) = recorder.requests
    assert json.loads(request.content) == {
        "status": "COMPLETED", "result_url": "https://serene-bump.org/", "completed_at": "2024-01-05T14:30:00.000Z",
        "score": 42, "max_score": 50, "attributes": [{"type": "TEXT", "label": "Level", "value": "Senior"}],
    }


async def test_order_id_is_escaped_in_the_path() -> None:
    recorder = Recorder(_json(200, SUCCESS))
    await _write(_adapter(recorder), COMPLETED, _order("a b/c"))
    (request,) = recorder.requests
    assert request.url.raw_path == b"/v1/assessment/orders/a%20b%2Fc/result"


async def test_refused_translation_sends_nothing() -> None:
    recorder = Recorder(_json(200, SUCCESS))
    adapter = _adapter(recorder)
    for update, error in (
        ({"status": "IN_PROGRESS", "result_url": "https://x.example.com/"}, UnsupportedByProviderError),
        ({"status": "COMPLETED"}, InvalidInputError),
    ):
        with pytest.raises(error):
            adapter.prepare_result(_order(), ResultUpdate.model_validate(update), None, NOW)
    done = _order().model_copy(update={"status": OrderStatus.COMPLETED, "provider_status": "COMPLETED"})
    with pytest.raises(ResultConflictError):
        adapter.prepare_result(done, ResultUpdate.model_validate({**COMPLETED, "status": "CANCELLED"}), None, NOW)
    assert recorder.requests == []


async def test_missing_integration_id_sends_nothing() -> None:
    recorder = Recorder(_json(200, SUCCESS))
    adapter = _adapter(recorder, _connection(integration_id=None))
    with pytest.raises(ProviderAuthError) as raised:
        await _write(adapter, COMPLETED)
    assert raised.value.provider is ProviderName.KOMBO
    assert recorder.requests == []


# --------------------------------------------------------------------------- errors by HTTP status


def _error(code: str | None, message: str = SECRET) -> dict[str, Any]:
    return {"status": "error", "error": {"code": code, "title": None, "message": message,
                                         "log_url": "https://app.kombo.dev/logs/1"}}


def _plain(status: int, headers: dict[str, str] | None = None) -> Handler:
    """An error without a Kombo code, so the HTTP status decides."""
    return _json(status, _error(None), headers)


def _raising(exc: type[httpx.TransportError]) -> Handler:
    def answer(request: httpx.Request) -> httpx.Response:
        raise exc("simulated", request=request)

    return answer


def _bytes(content: bytes, status: int = 200) -> Handler:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=content, headers={"content-type": "application/json"})

    return answer


@pytest.mark.parametrize(
    ("_case", "handler", "error", "status"),
    [
        ("401", _plain(401), ProviderAuthError, 401),
        ("403", _plain(403), ProviderAuthError, 403),
        ("404", _plain(404), OrderNotFoundError, 404),
        ("400", _plain(400), ProviderRejectedInputError, 400),
        ("422", _plain(422), ProviderRejectedInputError, 422),
        ("409", _plain(409), ResultConflictError, 409),
        ("429", _plain(429), ProviderRateLimitedError, 429),
        ("500", _plain(500), ProviderUnavailableError, 500),
        ("503", _plain(503), ProviderUnavailableError, 503),
        ("503_html", _bytes(b"<html>" + SECRET.encode() + b"</html>", 503), ProviderUnavailableError, 503),
        ("read_timeout", _raising(httpx.ReadTimeout), ProviderUnavailableError, None),
        ("connect_error", _raising(httpx.ConnectError), ProviderUnavailableError, None),
        ("not_json", _bytes(b"<html>oops</html>"), ProviderBadResponseError, None),
        ("empty", _bytes(b""), ProviderBadResponseError, None),
        ("json_list", _bytes(b"[]"), ProviderBadResponseError, None),
        ("error_envelope_with_200", _json(200, _error("PLATFORM.UNKNOWN_ERROR")), ProviderBadResponseError, None),
        ("warnings_wrong_type", _json(200, {"status": "success", "data": {}, "warnings": "x"}),
         ProviderBadResponseError, None),
    ],
)
async def test_errors(_case: str, handler: Handler, error: type[DomainError], status: int | None) -> None:
    recorder = Recorder(handler)
    with pytest.raises(DomainError) as raised:
        await _write(_adapter(recorder), COMPLETED)
    assert type(raised.value) is error
    assert raised.value.status == status
    assert raised.value.provider is ProviderName.KOMBO
    assert raised.value.provider_code is None
    assert SECRET not in raised.value.message and SECRET not in str(raised.value.extensions)
    assert len(recorder.requests) == 1


async def test_rate_limit_retry_after() -> None:
    recorder = Recorder(_json(429, _error("PLATFORM.CONCURRENCY_LIMIT_EXCEEDED"),
                              {"Retry-After": "7", "Concurrency-Limit": "30", "Concurrency-Remaining": "0"}))
    with pytest.raises(ProviderRateLimitedError) as raised:
        await _write(_adapter(recorder), COMPLETED)
    assert raised.value.retry_after == 7.0
    assert raised.value.extensions["retryAfter"] == 7.0
    assert raised.value.provider_code == "PLATFORM.CONCURRENCY_LIMIT_EXCEEDED"


# --------------------------------------------------------------------------- errors by Kombo error.code


@pytest.mark.parametrize(
    ("_case", "code", "status", "error"),
    [
        ("platform_rate_limit", "PLATFORM.RATE_LIMIT_EXCEEDED", 429, ProviderRateLimitedError),
        ("concurrency_limit", "PLATFORM.CONCURRENCY_LIMIT_EXCEEDED", 429, ProviderRateLimitedError),
        ("remote_rate_limit", "REMOTE.RATE_LIMIT_EXCEEDED", 502, ProviderRateLimitedError),
        ("platform_auth", "PLATFORM.AUTHENTICATION_INVALID", 401, ProviderAuthError),
        ("integration_auth", "INTEGRATION.AUTHENTICATION_INVALID", 400, ProviderAuthError),
        ("ip_not_whitelisted", "PLATFORM.IP_NOT_WHITELISTED", 400, ProviderAuthError),
        ("permission_missing", "INTEGRATION.PERMISSION_MISSING", 400, ProviderAuthError),
        ("integration_not_found", "PLATFORM.INTEGRATION_NOT_FOUND", 404, ProviderAuthError),
        ("platform_input", "PLATFORM.INPUT_INVALID", 500, ProviderRejectedInputError),
        ("remote_input", "REMOTE.INPUT_INVALID", 502, ProviderRejectedInputError),
        ("ats_job_closed", "ATS.JOB_CLOSED", 500, ProviderRejectedInputError),
        ("ats_application_exists", "ATS.APPLICATION_ALREADY_EXISTS", 409, ProviderRejectedInputError),
        ("remote_unavailable", "REMOTE.SERVICE_UNAVAILABLE", 400, ProviderUnavailableError),
        ("task_timed_out", "PLATFORM.TASK_TIMED_OUT", 400, ProviderUnavailableError),
        ("platform_unknown", "PLATFORM.UNKNOWN_ERROR", 400, ProviderUnavailableError),
        ("remote_unknown_http", "REMOTE.UNKNOWN_HTTP_ERROR", 400, ProviderUnavailableError),
        ("inactive", "INTEGRATION.INACTIVE", 400, UnsupportedByProviderError),
        ("setup_sync_pending", "INTEGRATION.SETUP_SYNC_PENDING", 400, UnsupportedByProviderError),
        ("setup_incomplete", "INTEGRATION.SETUP_INCOMPLETE", 400, UnsupportedByProviderError),
        ("model_not_available", "INTEGRATION.MODEL_NOT_AVAILABLE", 400, UnsupportedByProviderError),
        ("model_disabled", "INTEGRATION.MODEL_DISABLED", 400, UnsupportedByProviderError),
        ("action_not_available", "INTEGRATION.ACTION_NOT_AVAILABLE", 400, UnsupportedByProviderError),
        ("action_disabled", "INTEGRATION.ACTION_DISABLED", 400, UnsupportedByProviderError),
        ("qa_failed", "INTEGRATION.QA_FAILED", 400, UnsupportedByProviderError),
        ("unknown_code_uses_status_404", "ASSESSMENT.ORDER_NOT_FOUND", 404, OrderNotFoundError),
        ("unknown_code_uses_status_500", "PLATFORM.SOMETHING_NEW", 500, ProviderUnavailableError),
    ],
)
async def test_error_codes(_case: str, code: str, status: int, error: type[DomainError]) -> None:
    # given a Kombo error envelope whose code disagrees with its HTTP status (the code wins)
    recorder = Recorder(_json(status, _error(code)))
    with pytest.raises(DomainError) as raised:
        await _write(_adapter(recorder), COMPLETED)
    # then the domain error follows the code, which is passed on as providerCode
    assert type(raised.value) is error
    assert raised.value.status == status
    assert raised.value.provider_code == code
    assert raised.value.extensions["providerCode"] == code
    assert SECRET not in raised.value.message


# --------------------------------------------------------------------------- list_orders


def _page(results: list[dict[str, Any]], next_cursor: str | None) -> dict[str, Any]:
    return {"status": "success", "data": {"next": next_cursor, "results": results}}


async def test_list_orders_first_page() -> None:
    # given one page with a next cursor
    recorder = Recorder(_json(200, _page([LIST_ITEM], "cursor-2")))
    # when the first page is read
    orders, cursor = await _adapter(recorder).list_orders()
    # then one GET with auth, tenant and the default page size went out
    (request,) = recorder.requests
    assert request.method == "GET"
    assert str(request.url) == f"{BASE_URL}/assessment/orders?page_size=100"
    assert request.headers["authorization"] == "Bearer kombo-test-key"
    assert request.headers["x-integration-id"] == INTEGRATION
    assert "content-type" not in request.headers
    # and the orders are translated, each keeping its raw record
    assert cursor == "cursor-2"
    (order,) = orders
    assert order.connection_id == "conn-kombo"
    assert order.provider_order_id == "B5KQKhAgTv6ZwzrfAbqbhipd"
    assert order.status is OrderStatus.OPEN
    assert order.candidate.emails == ("john.doe@gmail.com",)
    assert order.raw == LIST_ITEM


async def test_list_orders_filters() -> None:
    recorder = Recorder(_json(200, _page([], None)))
    created_after = datetime(2026, 11, 1, 10, 0, 0, 500000, tzinfo=timezone(timedelta(hours=2)))
    orders, cursor = await _adapter(recorder).list_orders(
        cursor="c1", page_size=250, statuses=["OPEN", OrderStatus.CANCELLED], created_after=created_after,
        ids=["B5KQKhAgTv6ZwzrfAbqbhipd", "GRKdd9dibYKKCrmGRSMJf3wu"],
    )
    (request,) = recorder.requests
    assert dict(request.url.params) == {
        "cursor": "c1", "page_size": "250", "statuses": "OPEN,CANCELLED",
        "created_after": "2026-11-01T08:00:00.500Z", "ids": "B5KQKhAgTv6ZwzrfAbqbhipd,GRKdd9dibYKKCrmGRSMJf3wu",
    }
    assert (orders, cursor) == ([], None)


@pytest.mark.parametrize(("_case", "next_cursor"), [("null", None), ("empty_string", "")])
async def test_list_orders_last_page(_case: str, next_cursor: str | None) -> None:
    recorder = Recorder(_json(200, _page([LIST_ITEM], next_cursor)))
    orders, cursor = await _adapter(recorder).list_orders(cursor="c9")
    assert cursor is None
    assert len(orders) == 1


async def test_list_orders_walks_every_page() -> None:
    # given two pages chained by cursor
    pages = {None: _page([LIST_ITEM], "p2"), "p2": _page([{**LIST_ITEM, "id": "o2", "status": "REJECTED"}], "")}

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=pages[request.url.params.get("cursor")])

    adapter, found, cursor = _adapter(Recorder(answer)), [], None
    # when the caller follows `next` to the end
    while True:
        page, cursor = await adapter.list_orders(cursor=cursor)
        found += page
        if not cursor:
            break
    # then both pages were read
    assert [(o.provider_order_id, o.status) for o in found] == [
        ("B5KQKhAgTv6ZwzrfAbqbhipd", OrderStatus.OPEN), ("o2", OrderStatus.REJECTED)]


@pytest.mark.parametrize(
    ("_case", "kwargs", "field"),
    [
        ("page_size_zero", {"page_size": 0}, "pageSize"),
        ("page_size_too_big", {"page_size": 251}, "pageSize"),
        ("unknown_status", {"statuses": ["OPEN", "IN_PROGRESS"]}, "statuses"),
    ],
)
async def test_list_orders_refuses_bad_queries(_case: str, kwargs: dict[str, Any], field: str) -> None:
    recorder = Recorder(_json(200, _page([], None)))
    with pytest.raises(InvalidInputError) as raised:
        await _adapter(recorder).list_orders(**kwargs)
    assert raised.value.field == field
    assert recorder.requests == []


@pytest.mark.parametrize(
    ("_case", "handler", "error"),
    [
        ("auth_code", _json(401, _error("PLATFORM.AUTHENTICATION_INVALID")), ProviderAuthError),
        ("rate_limited", _json(429, _error("PLATFORM.RATE_LIMIT_EXCEEDED")), ProviderRateLimitedError),
        ("unavailable", _plain(503), ProviderUnavailableError),
        ("timeout", _raising(httpx.ReadTimeout), ProviderUnavailableError),
        ("not_json", _bytes(b"nope"), ProviderBadResponseError),
        ("no_results", _json(200, {"status": "success", "data": {"next": None}}), ProviderBadResponseError),
        ("bad_item", _json(200, _page([{"status": "OPEN"}], None)), ProviderBadResponseError),
    ],
)
async def test_list_orders_errors(_case: str, handler: Handler, error: type[DomainError]) -> None:
    with pytest.raises(DomainError) as raised:
        await _adapter(Recorder(handler)).list_orders()
    assert type(raised.value) is error
    assert raised.value.provider is ProviderName.KOMBO
