"""updateAssessmentResult end to end: each seed's values through GraphQL, asserted on the wire."""

from __future__ import annotations

from typing import Any

import httpx

from app import Services
from providers.connections import Connection
from providers.models import OrderRef
from providers.registry import build_provider, http_client
from sandbox import Sandboxes, create_sandbox_app
from tests.conftest import GraphQLClient

MUTATION = """
mutation($input: UpdateAssessmentResultInput!) {
  updateAssessmentResult(input: $input) {
    order { id status providerStatus result { status outcome summary delivery { state } } }
    result { id status outcome score { value min max label } summary resultUrl startedAt completedAt
             attachments { url name contentType } attributes { type label value score { value max } status id }
             candidateProfileUrl passthrough idempotencyKey submittedAt }
    delivery { state attempts providerStatusCode providerMessage providerWarnings errorCode }
    warnings { code field message }
  }
}
"""

FIND = """
query($filter: AssessmentOrderFilter) {
  assessmentOrders(filter: $filter, first: 100) { edges { node { id providerOrderId status } } }
}
"""


async def find_order(gql: GraphQLClient, provider: str, status: str = "OPEN") -> dict[str, Any]:
    body = await gql(FIND, {"filter": {"providers": [provider], "statuses": [status]}})
    edges = body["data"]["assessmentOrders"]["edges"]
    assert edges, f"no {status} {provider} order seeded"
    node: dict[str, Any] = edges[0]["node"]
    return node


async def update(gql: GraphQLClient, **input_: Any) -> dict[str, Any]:
    return await gql(MUTATION, {"input": input_})


def last_write(box: Any) -> Any:
    writes = [r for r in box.received if r.method in ("PUT", "PATCH")]
    assert writes, "the sandbox received no write"
    return writes[-1]


# ----------------------------------------------------------------------------- StackOne


async def test_seed_000_stackone_sdk_example(
    gql: GraphQLClient, sandboxes: Sandboxes, services: Services
) -> None:
    # given an open StackOne order whose candidate is the seed's candidate, on a heartbeat connection
    order = await find_order(gql, "STACKONE")
    await _set_candidate(services, order["id"], "8187e5da-dc77-475e-9949-af0f1fa4e4e3")
    _enable_heartbeat(services)
    # when the seed's example values are written
    body = await update(
        gql, orderId=order["id"], status="COMPLETED", outcome="PASSED",
        score={"value": 80, "min": 0, "max": 100, "label": "Percentage"},
        summary="Test is passed", resultUrl="https://exmaple.com/result?id=xyz",
        startedAt="2021-01-01T01:01:01.000Z", completedAt="2021-01-01T01:01:01.000Z",
        attachments=[{"url": "http://example.com/resume.pdf"}],
        candidateProfileUrl="https://exmaple.com/candidate?id=xyz",
        passthrough={"other_known_names": "John Doe"},
    )  # fmt: skip
    # then StackOne received exactly the current-shape body, with heartbeat requested
    assert "errors" not in body, body
    sent = last_write(sandboxes.stackone)
    assert sent.method == "PATCH"
    assert sent.path.endswith(f"/unified/ats/assessments/orders/{order['providerOrderId']}/result")
    assert sent.headers["x-account-id"] == services.context.connections["sandbox-stackone"].account_id
    assert sent.headers["prefer"] == "heartbeat"
    assert sent.body == {
        "score": {"label": "Percentage", "value": "80", "min": "0", "max": "100"},
        "start_date": "2021-01-01T01:01:01.000Z",
        "submission_date": "2021-01-01T01:01:01.000Z",
        "summary": "Test is passed",
        "result": {"value": "passed", "source_value": "Passed"},
        "result_url": "https://exmaple.com/result?id=xyz",
        "attachments": [
            {"url": "http://example.com/resume.pdf",
             "content_type": {"value": "pdf", "source_value": "application/pdf"}}
        ],
        "candidate": {"id": "8187e5da-dc77-475e-9949-af0f1fa4e4e3",
                      "profile_url": "https://exmaple.com/candidate?id=xyz"},
        "passthrough": {"other_known_names": "John Doe"},
    }  # fmt: skip
    payload = body["data"]["updateAssessmentResult"]
    assert payload["delivery"]["state"] == "DELIVERED"
    assert payload["delivery"]["providerStatusCode"] == 200
    assert payload["delivery"]["providerMessage"] == "Record updated successfully."
    assert payload["order"]["status"] == "COMPLETED"
    assert payload["order"]["result"]["outcome"] == "PASSED"
    assert payload["warnings"] == []


async def test_seed_001_stackone_api_reference_example(gql: GraphQLClient, sandboxes: Sandboxes) -> None:
    # given an open StackOne order
    order = await find_order(gql, "STACKONE")
    # when the API reference's example is written (a text attachment)
    body = await update(
        gql, orderId=order["id"], status="COMPLETED", outcome="PASSED",
        score={"value": 80, "min": 0, "max": 100, "label": "Percentage"},
        summary="Test is passed", resultUrl="https://exmaple.com/result?id=xyz",
        startedAt="2021-01-01T01:01:01.000Z", completedAt="2021-01-01T01:01:01.000Z",
        attachments=[{"url": "http://example.com/resume.pdf", "contentType": "text/plain"}],
    )  # fmt: skip
    # then the body has no `id` (removed from the current shape) and the attachment is text
    assert "errors" not in body, body
    sent = last_write(sandboxes.stackone)
    assert "id" not in sent.body
    assert sent.body["attachments"] == [
        {"url": "http://example.com/resume.pdf", "content_type": {"value": "text", "source_value": "text/plain"}}
    ]
    assert sent.body["result"] == {"value": "passed", "source_value": "Passed"}
    assert "prefer" not in sent.headers
    assert sent.headers["authorization"].startswith("Basic ")
    assert body["data"]["updateAssessmentResult"]["delivery"]["state"] == "DELIVERED"


# ----------------------------------------------------------------------------- Kombo


async def test_seed_002_kombo_cancelled_with_result_url(gql: GraphQLClient, sandboxes: Sandboxes) -> None:
    # given an open Kombo order
    order = await find_order(gql, "KOMBO")
    # when the SDK example (CANCELLED + result_url) is written
    body = await update(gql, orderId=order["id"], status="CANCELLED", resultUrl="https://serene-bump.org/")
    # then Kombo got status, url and the defaulted completed_at, and the payload says so
    assert "errors" not in body, body
    sent = last_write(sandboxes.kombo)
    assert (sent.method, sent.path) == ("PUT", f"/kombo/v1/assessment/orders/{order['providerOrderId']}/result")
    assert sent.headers["authorization"] == "Bearer sandbox-kombo-key"
    assert sent.headers["x-integration-id"] == "greenhouse:sandbox1"
    assert sent.body == {
        "status": "CANCELLED",
        "result_url": "https://serene-bump.org/",
        "completed_at": "2026-11-02T09:30:00.125Z",
    }
    payload = body["data"]["updateAssessmentResult"]
    assert [(w["code"], w["field"]) for w in payload["warnings"]] == [("DEFAULTED", "completedAt")]
    assert payload["order"]["status"] == "CANCELLED"
    assert payload["order"]["providerStatus"] == "CANCELLED"
    assert payload["delivery"]["state"] == "DELIVERED"


async def test_seed_003_kombo_older_shape_completed_with_scores(gql: GraphQLClient, sandboxes: Sandboxes) -> None:
    # given an open Kombo order
    order = await find_order(gql, "KOMBO")
    # when a completed result with completed_at, score, max_score and a sub-result is written
    body = await update(
        gql, orderId=order["id"], status="COMPLETED", resultUrl="https://vendor.example/results/42",
        completedAt="2026-10-30T14:05:09.5+01:00", score={"value": 42.5, "max": 50},
        attributes=[
            {"type": "SUB_RESULT", "id": "logic", "label": "Logic", "score": {"value": 8, "max": 10},
             "status": "COMPLETED"},
            {"type": "TEXT", "label": "Proctoring", "value": "No anomalies"},
        ],
    )  # fmt: skip
    # then every value arrived in Kombo's fields with completed_at in YYYY-MM-DDTHH:mm:ss.sssZ
    assert "errors" not in body, body
    assert last_write(sandboxes.kombo).body == {
        "status": "COMPLETED",
        "result_url": "https://vendor.example/results/42",
        "completed_at": "2026-10-30T13:05:09.500Z",
        "score": 42.5,
        "max_score": 50,
        "attributes": [
            {"type": "SUB_RESULT", "id": "logic", "label": "Logic", "score": {"value": 8, "max": 10},
             "status": "COMPLETED"},
            {"type": "TEXT", "label": "Proctoring", "value": "No anomalies"},
        ],
    }  # fmt: skip
    assert body["data"]["updateAssessmentResult"]["warnings"] == []


async def test_kombo_summary_and_outcome_travel_as_text_attributes(
    gql: GraphQLClient, sandboxes: Sandboxes
) -> None:
    order = await find_order(gql, "KOMBO")
    body = await update(
        gql, orderId=order["id"], status="COMPLETED", outcome="FAILED", summary="Below the bar",
        resultUrl="https://vendor.example/r/1", completedAt="2026-10-30T13:05:09.000Z",
    )  # fmt: skip
    assert "errors" not in body, body
    attributes = last_write(sandboxes.kombo).body["attributes"]
    assert {"type": "TEXT", "label": "Summary", "value": "Below the bar"} in attributes
    assert {"type": "TEXT", "label": "Outcome", "value": "Failed"} in attributes
    warned = {(w["code"], w["field"]) for w in body["data"]["updateAssessmentResult"]["warnings"]}
    assert {("MOVED", "summary"), ("MOVED", "outcome")} <= warned


async def test_kombo_without_result_url_is_refused_before_any_call(
    gql: GraphQLClient, sandboxes: Sandboxes
) -> None:
    order = await find_order(gql, "KOMBO")
    before = len(sandboxes.kombo.received)
    body = await update(gql, orderId=order["id"], status="COMPLETED")
    assert body["data"] is None
    assert [e["extensions"] for e in body["errors"]] == [
        {"code": "BAD_USER_INPUT", "provider": "KOMBO", "field": "resultUrl"}
    ]
    assert len(sandboxes.kombo.received) == before


async def test_kombo_terminal_status_change_is_a_conflict_but_a_repeat_is_not(
    gql: GraphQLClient, sandboxes: Sandboxes
) -> None:
    # given a Kombo order completed through the service
    order = await find_order(gql, "KOMBO")
    done = dict(orderId=order["id"], status="COMPLETED", resultUrl="https://v.example/r",
                completedAt="2026-10-30T13:05:09.000Z")  # fmt: skip
    assert "errors" not in await update(gql, **done)
    writes = len(sandboxes.kombo.received)
    # when it is cancelled afterwards, then CONFLICT and no call
    body = await update(gql, **{**done, "status": "CANCELLED"})
    assert [e["extensions"]["code"] for e in body["errors"]] == ["CONFLICT"]
    assert len(sandboxes.kombo.received) == writes
    # when the same terminal status is sent again, then it is delivered
    again = await update(gql, **{**done, "score": {"value": 3, "max": 4}})
    assert again["data"]["updateAssessmentResult"]["delivery"]["state"] == "DELIVERED"


async def test_kombo_provider_warnings_are_surfaced(gql: GraphQLClient) -> None:
    order = await find_order(gql, "KOMBO")
    body = await update(
        gql, orderId=order["id"], status="COMPLETED", resultUrl="https://v.example/r",
        completedAt="2026-10-30T13:05:09.000Z", passthrough={"smartrecruiters": {"scoreLabel": "Pts"}},
    )  # fmt: skip
    warnings = body["data"]["updateAssessmentResult"]["delivery"]["providerWarnings"]
    assert warnings and "smartrecruiters" in warnings[0]


# ----------------------------------------------------------------------------- Unified.to


async def test_seed_004_unified_put_carries_the_whole_order(
    gql: GraphQLClient, sandboxes: Sandboxes, services: Services
) -> None:
    # given an open Unified.to order, as received
    order = await find_order(gql, "UNIFIED_TO")
    stored = (await services.store.get_orders([OrderRef.parse(order["id"])]))[OrderRef.parse(order["id"])]
    # when a completed result is written with fields/raw passthrough
    body = await update(
        gql, orderId=order["id"], status="COMPLETED", score={"value": 87, "max": 100},
        resultUrl="https://vendor.example/report/87", completedAt="2026-10-31T10:00:00Z",
        startedAt="2026-10-31T09:00:00Z", summary="Strong TypeScript skills",
        attachments=[{"url": "https://vendor.example/report/87.pdf", "name": "Report"}],
        attributes=[{"type": "SUB_RESULT", "label": "Algorithms", "score": {"value": 9, "max": 10},
                     "status": "COMPLETED", "id": "algo"}],
        passthrough={"fields": ["id", "status", "response_score"], "raw": {"foo": "bar", "zoo": "bar"}},
    )  # fmt: skip
    assert "errors" not in body, body
    sent = last_write(sandboxes.unified_to)
    conn = services.context.connections["sandbox-unified-to"]
    # then the PUT went to the connection's path with the whole stored order merged with the result
    assert (sent.method, sent.path) == (
        "PUT", f"/unified_to/assessment/{conn.connection_id}/order/{order['providerOrderId']}",
    )
    assert sent.query == {"fields": ["id", "status", "response_score"], "raw": ["foo=bar&zoo=bar"]}
    assert sent.headers["authorization"] == "Bearer sandbox-unified-key"
    for key, value in stored.raw.items():
        if not key.startswith("response_") and key not in ("status", "raw"):
            assert sent.body[key] == value, key
    assert sent.body["workspace_id"] == conn.workspace_id
    assert sent.body["connection_id"] == conn.connection_id
    assert sent.body["status"] == sent.body["response_status"] == "COMPLETED"
    assert sent.body["response_score"] == 87 and sent.body["response_max_score"] == 100
    assert sent.body["response_url"] == "https://vendor.example/report/87"
    assert sent.body["response_completed_at"] == "2026-10-31T10:00:00.000Z"
    assert sent.body["response_issued_at"] == "2026-10-31T09:00:00.000Z"
    assert sent.body["response_download_urls"] == ["https://vendor.example/report/87.pdf"]
    assert {"title": "Summary", "text": "Strong TypeScript skills"} in sent.body["response_details"]
    assert sent.body["response_attributes"] == [
        {"type": "SUB_RESULT", "label": "Algorithms", "score_value": 9, "score_max": 10,
         "status": "COMPLETED", "reference": "algo"}
    ]  # fmt: skip
    # and the returned order is merged into the stored one
    payload = body["data"]["updateAssessmentResult"]
    assert payload["order"]["status"] == "COMPLETED"
    assert payload["delivery"]["state"] == "DELIVERED"


async def test_unified_cancelled_is_approximated_and_expired_refused(gql: GraphQLClient) -> None:
    order = await find_order(gql, "UNIFIED_TO")
    body = await update(gql, orderId=order["id"], status="EXPIRED")
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNSUPPORTED_BY_PROVIDER"]
    body = await update(gql, orderId=order["id"], status="CANCELLED")
    payload = body["data"]["updateAssessmentResult"]
    assert ("APPROXIMATED", "status") in {(w["code"], w["field"]) for w in payload["warnings"]}
    assert payload["order"]["status"] == "REJECTED"


# ----------------------------------------------------------------------------- helpers


async def _set_candidate(services: Services, order_id: str, candidate_id: str) -> None:
    ref = OrderRef.parse(order_id)
    order = (await services.store.get_orders([ref]))[ref]
    candidate = order.candidate.model_copy(update={"remote_id": candidate_id})
    await services.store.upsert_order(order.model_copy(update={"candidate": candidate}))


def _enable_heartbeat(services: Services) -> None:
    conn = services.context.connections["sandbox-stackone"].model_copy(update={"prefer_heartbeat": True})
    swap_adapter(services, conn, httpx.ASGITransport(app=create_sandbox_app(services.sandboxes)))


def refuse_kombo_key(services: Services, sandboxes: Sandboxes) -> None:
    """The sandbox's Kombo connection from now on with a key the sandbox refuses (401: a permanent failure)."""
    conn = services.context.connections["sandbox-kombo"].model_copy(update={"api_key": "wrong"})
    swap_adapter(services, conn, httpx.ASGITransport(app=create_sandbox_app(sandboxes)))


def swap_adapter(services: Services, conn: Connection, transport: httpx.AsyncBaseTransport) -> None:
    """Serve `conn` through `transport` from now on (sandbox variants, failure injection)."""
    client = http_client(conn, transport)
    services.clients.append(client)
    ctx = services.context
    ctx.connections = {**ctx.connections, conn.id: conn}
    ctx.adapters = {**ctx.adapters, conn.id: build_provider(conn, client)}
