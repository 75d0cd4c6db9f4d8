"""Every error code, end to end: input checks, provider answers, transport faults, masking."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from app import Services
from providers.errors import ErrorCode
from providers.models import DeliveryState, OrderRef
from sandbox import Sandboxes
from tests.conftest import GraphQLClient
from tests.test_graphql_results import find_order, refuse_kombo_key, swap_adapter, update

Handler = Callable[[httpx.Request], httpx.Response]


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


@pytest.mark.parametrize(
    ("_case", "provider", "input_", "field"),
    [
        ("negative score", "STACKONE", {"status": "COMPLETED", "score": {"value": -1}}, "score.value"),
        ("score above max", "STACKONE", {"status": "COMPLETED", "score": {"value": 11, "max": 10}}, "score.value"),
        ("min above max", "UNIFIED_TO", {"status": "COMPLETED", "score": {"value": 5, "min": 9, "max": 8}}, "score.min"),
        ("relative url", "STACKONE", {"status": "COMPLETED", "resultUrl": "/results/1"}, "resultUrl"),
        ("ftp url", "UNIFIED_TO", {"status": "COMPLETED", "resultUrl": "ftp://x.example/r"}, "resultUrl"),
        ("attachment url", "STACKONE", {"status": "COMPLETED", "attachments": [{"url": "nope"}]}, "attachments[0].url"),
        ("outcome without completion", "STACKONE", {"status": "CANCELLED", "outcome": "PASSED"}, "outcome"),
        ("dates reversed", "STACKONE", {"status": "COMPLETED", "startedAt": "2026-01-02T00:00:00Z",
                                        "completedAt": "2026-01-01T00:00:00Z"}, "completedAt"),
        ("too many attachments", "KOMBO", {"status": "COMPLETED", "resultUrl": "https://v.example/r",
                                           "attachments": [{"url": f"https://v.example/{i}.pdf"} for i in range(6)]},
         "attachments"),
        ("number attribute not numeric", "UNIFIED_TO", {"status": "COMPLETED",
                                                        "attributes": [{"type": "NUMBER", "label": "IQ", "value": "high"}]},
         "attributes[0].value"),
    ],
)  # fmt: skip
async def test_bad_input_is_refused_before_any_call(
    gql: GraphQLClient, sandboxes: Sandboxes, _case: str, provider: str, input_: dict[str, Any], field: str
) -> None:
    order = await find_order(gql, provider)
    calls = sum(len(b.received) for b in (sandboxes.stackone, sandboxes.kombo, sandboxes.unified_to))
    body = await update(gql, orderId=order["id"], **input_)
    assert body["data"] is None
    assert len(body["errors"]) == 1
    assert body["errors"][0]["extensions"]["code"] == ErrorCode.BAD_USER_INPUT
    assert body["errors"][0]["extensions"]["field"] == field
    assert sum(len(b.received) for b in (sandboxes.stackone, sandboxes.kombo, sandboxes.unified_to)) == calls


async def test_bad_date_is_bad_user_input(gql: GraphQLClient) -> None:
    order = await find_order(gql, "STACKONE")
    for value in ("yesterday", "2026-13-01T00:00:00Z", "2026-01-01T00:00:00"):
        body = await update(gql, orderId=order["id"], status="COMPLETED", completedAt=value)
        assert codes(body) == [ErrorCode.BAD_USER_INPUT], value


async def test_unknown_and_malformed_order_ids(gql: GraphQLClient) -> None:
    missing = OrderRef("sandbox-kombo", "GRKdd9dibYKKCrmGRSMJf3wu").encode()
    assert codes(await update(gql, orderId=missing, status="COMPLETED")) == [ErrorCode.NOT_FOUND]
    foreign = OrderRef("someone-else", "1").encode()
    assert codes(await update(gql, orderId=foreign, status="COMPLETED")) == [ErrorCode.NOT_FOUND]
    assert codes(await update(gql, orderId="%%%", status="COMPLETED")) == [ErrorCode.BAD_USER_INPUT]


async def test_status_a_provider_cannot_take(gql: GraphQLClient) -> None:
    order = await find_order(gql, "KOMBO")
    body = await update(gql, orderId=order["id"], status="IN_PROGRESS", resultUrl="https://v.example/r")
    assert body["errors"][0]["extensions"] == {
        "code": "UNSUPPORTED_BY_PROVIDER", "provider": "KOMBO", "field": "status",
    }


async def test_idempotency_key_repeat_and_conflict(gql: GraphQLClient, sandboxes: Sandboxes) -> None:
    order = await find_order(gql, "STACKONE")
    first = await update(gql, orderId=order["id"], status="COMPLETED", idempotencyKey="k-1", summary="A")
    writes = len(sandboxes.stackone.received)
    again = await update(gql, orderId=order["id"], status="COMPLETED", idempotencyKey="k-1", summary="A")
    assert again["data"]["updateAssessmentResult"]["result"]["id"] == first["data"]["updateAssessmentResult"]["result"]["id"]
    assert len(sandboxes.stackone.received) == writes
    other = await update(gql, orderId=order["id"], status="COMPLETED", idempotencyKey="k-1", summary="B")
    assert codes(other) == [ErrorCode.CONFLICT]


async def test_wrong_credentials_are_provider_auth_failed(
    gql: GraphQLClient, services: Services, sandboxes: Sandboxes
) -> None:
    # given the Kombo connection with a key the sandbox does not know
    refuse_kombo_key(services, sandboxes)
    order = await find_order(gql, "KOMBO")
    body = await update(gql, orderId=order["id"], status="COMPLETED", resultUrl="https://v.example/r")
    assert body["errors"][0]["extensions"]["code"] == ErrorCode.PROVIDER_AUTH_FAILED
    assert body["errors"][0]["extensions"]["http"] == {"status": 401}


def answer(status: int, body: bytes | dict[str, Any], headers: dict[str, str] | None = None) -> Handler:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return lambda request: httpx.Response(status, content=content, headers=headers or {})


def raising(exc: type[Exception]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc("simulated") if not issubclass(exc, httpx.TransportError) else exc("simulated", request=request)

    return handler


RETRYABLE = [
    ("429 with Retry-After", answer(429, {"statusCode": 429, "message": "Too many", "timestamp": "2026-01-01T00:00:00.000Z"},
                                    {"retry-after": "7"}), ErrorCode.PROVIDER_RATE_LIMITED, 429),
    ("408 after upstream retries", answer(408, {"statusCode": 408, "message": "t", "timestamp": "2026-01-01T00:00:00.000Z"},
                                          {"retry-after": "60"}), ErrorCode.PROVIDER_RATE_LIMITED, 408),
    ("500", answer(500, {"statusCode": 500, "message": "x", "timestamp": "2026-01-01T00:00:00.000Z"}), ErrorCode.PROVIDER_UNAVAILABLE, 500),
    ("503", answer(503, b"<html>down</html>"), ErrorCode.PROVIDER_UNAVAILABLE, 503),
    ("timeout", raising(httpx.ReadTimeout), ErrorCode.PROVIDER_UNAVAILABLE, None),
    ("connection refused", raising(httpx.ConnectError), ErrorCode.PROVIDER_UNAVAILABLE, None),
    ("garbage 200", answer(200, b"\x00not json"), ErrorCode.PROVIDER_BAD_RESPONSE, None),
    ("wrong shape 200", answer(200, {"ok": True}), ErrorCode.PROVIDER_BAD_RESPONSE, None),
]  # fmt: skip


@pytest.mark.parametrize(("_case", "handler", "code", "status"), RETRYABLE)
async def test_retryable_provider_failures_leave_the_result_retrying(
    gql: GraphQLClient, services: Services, _case: str, handler: Handler, code: ErrorCode, status: int | None
) -> None:
    # given the StackOne connection answering with a fault worth retrying
    conn = services.context.connections["sandbox-stackone"]
    swap_adapter(services, conn, httpx.MockTransport(handler))
    order = await find_order(gql, "STACKONE")
    # when a result is written
    body = await update(gql, orderId=order["id"], status="COMPLETED", summary="kept")
    # then the payload says RETRYING (UNCONFIRMED after a timeout: the request may have been applied),
    # with the attempt, the error and when it is tried again
    assert "errors" not in body, body
    delivery = body["data"]["updateAssessmentResult"]["delivery"]
    state = "UNCONFIRMED" if _case == "timeout" else "RETRYING"
    assert (delivery["state"], delivery["attempts"], delivery["errorCode"]) == (state, 1, code)
    assert delivery["providerStatusCode"] == status
    # ... and the submitted result is on record, due again later
    ref = OrderRef.parse(order["id"])
    kept = (await services.store.latest_results([ref]))[ref]
    assert kept.update.summary == "kept"
    assert kept.delivery.state is DeliveryState(state) and kept.delivery.error_code == code
    assert kept.delivery.next_attempt_at is not None and kept.delivery.next_attempt_at > kept.submitted_at


@pytest.mark.parametrize(
    ("_case", "handler", "code"),
    [
        ("422 from provider", answer(422, {"statusCode": 422, "message": "bad", "timestamp": "2026-01-01T00:00:00.000Z"}), ErrorCode.BAD_USER_INPUT),
        ("403", answer(403, {"statusCode": 403, "message": "no", "timestamp": "2026-01-01T00:00:00.000Z"}), ErrorCode.PROVIDER_AUTH_FAILED),
        ("a bug below us", raising(RuntimeError), ErrorCode.INTERNAL_SERVER_ERROR),
    ],
)  # fmt: skip
async def test_permanent_provider_failures_are_coded_and_the_result_is_kept_failed(
    gql: GraphQLClient, services: Services, _case: str, handler: Handler, code: ErrorCode
) -> None:
    # given the StackOne connection refusing the write
    conn = services.context.connections["sandbox-stackone"]
    swap_adapter(services, conn, httpx.MockTransport(handler))
    order = await find_order(gql, "STACKONE")
    # when a result is written
    body = await update(gql, orderId=order["id"], status="COMPLETED", summary="kept")
    # then one coded error, no internals leaked ...
    assert body["data"] is None
    assert codes(body) == [code]
    if code is ErrorCode.INTERNAL_SERVER_ERROR:
        assert body["errors"][0]["message"] == "Unexpected error."
    # ... and the submitted result is on record as FAILED, not retried
    ref = OrderRef.parse(order["id"])
    kept = (await services.store.latest_results([ref]))[ref]
    assert kept.update.summary == "kept"
    assert kept.delivery.state is DeliveryState.FAILED and kept.delivery.error_code == code
    assert kept.delivery.next_attempt_at is None


async def test_rate_limit_retry_after_sets_the_next_attempt(gql: GraphQLClient, services: Services) -> None:
    conn = services.context.connections["sandbox-stackone"]
    swap_adapter(services, conn, httpx.MockTransport(
        answer(429, {"statusCode": 429, "message": "x", "timestamp": "2026-01-01T00:00:00.000Z"}, {"retry-after": "7"})
    ))  # fmt: skip
    order = await find_order(gql, "STACKONE")
    body = await gql(
        "mutation($i: UpdateAssessmentResultInput!) { updateAssessmentResult(input: $i) { result { submittedAt }"
        " delivery { state errorCode providerStatusCode nextAttemptAt } } }",
        {"i": {"orderId": order["id"], "status": "COMPLETED"}},
    )
    payload = body["data"]["updateAssessmentResult"]
    assert payload["delivery"]["state"] == "RETRYING"
    assert payload["delivery"]["errorCode"] == "PROVIDER_RATE_LIMITED"
    submitted = datetime.fromisoformat(payload["result"]["submittedAt"])
    assert datetime.fromisoformat(payload["delivery"]["nextAttemptAt"]) - submitted >= timedelta(seconds=7)


async def test_graphql_parse_and_validation_errors_are_coded(gql: GraphQLClient) -> None:
    assert codes(await gql("{ assessmentOrders(")) == [ErrorCode.GRAPHQL_PARSE_FAILED]
    assert codes(await gql("{ nope }")) == [ErrorCode.GRAPHQL_VALIDATION_FAILED]
    body = await gql("query($p: Provider!) { assessmentOrders(filter: {providers: [$p]}) { totalCount } }", {"p": "NOPE"})
    assert codes(body) == [ErrorCode.BAD_USER_INPUT]
