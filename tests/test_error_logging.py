"""Expected client errors are logged in one line without a traceback; a real bug keeps its traceback."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from app import Services
from providers.errors import ErrorCode
from tests.conftest import GraphQLClient
from tests.test_graphql_errors import raising
from tests.test_graphql_results import find_order, swap_adapter, update

WRITE = "mutation($i: UpdateAssessmentResultInput!) { updateAssessmentResult(input: $i) { delivery { state } } }"


async def send(gql: GraphQLClient, case: str, order_id: str) -> httpx.Response:
    bodies: dict[str, Any] = {
        "resolver refusal": {"query": WRITE, "variables": {"i": {"orderId": order_id, "status": "COMPLETED",
                                                                  "score": {"value": -1}}}},
        "bound": {"query": WRITE, "variables": {"i": {"orderId": order_id, "status": "COMPLETED", "summary": "s" * 30_000}}},
        "variable coercion": {"query": WRITE, "variables": {"i": {"orderId": order_id, "status": "NOPE"}}},
        "date out of range": {"query": WRITE, "variables": {"i": {"orderId": order_id, "status": "COMPLETED",
                                                                   "completedAt": "0001-01-01T00:00:00+14:00"}}},
        "validation": {"query": "{ assessmentOrders { nope } }"},
        "parse": {"query": "{ assessmentOrders { "},
        "slicing": {"query": "{ assessmentOrders(first: -1) { totalCount } }"},
    }  # fmt: skip
    if case == "garbage body":
        return await gql.http.post("/graphql", content=b"[" * 100_000, headers={"content-type": "application/json"})
    return await gql.http.post("/graphql", json=bodies[case])


CASES = ["resolver refusal", "bound", "variable coercion", "date out of range", "validation", "parse", "slicing",
         "garbage body"]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
async def test_expected_client_error_is_one_line_without_traceback(
    gql: GraphQLClient, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    order = await find_order(gql, "STACKONE")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="gateway"):
        response = await send(gql, case, order["id"])
    body = response.json()
    assert response.status_code in (200, 400) and body["errors"][0]["extensions"]["code"] != "INTERNAL_SERVER_ERROR"
    lines = [r for r in caplog.records if r.name.startswith("gateway.") and r.name != "gateway.access"]  # (one access line per request besides)
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert lines[0].levelno == logging.INFO and lines[0].exc_info is None
    assert "\n" not in lines[0].getMessage() and len(lines[0].getMessage()) < 600
    assert body["errors"][0]["extensions"]["code"] in lines[0].getMessage()


async def test_a_bug_keeps_its_traceback(gql: GraphQLClient, services: Services, caplog: pytest.LogCaptureFixture) -> None:
    swap_adapter(services, services.context.connections["sandbox-stackone"], httpx.MockTransport(raising(RuntimeError)))
    order = await find_order(gql, "STACKONE")
    with caplog.at_level(logging.INFO, logger="gateway"):
        body = await update(gql, orderId=order["id"], status="COMPLETED")
    assert [e["extensions"]["code"] for e in body["errors"]] == [ErrorCode.INTERNAL_SERVER_ERROR]
    bugs = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert bugs and bugs[0].exc_info is not None and bugs[0].exc_info[0] is RuntimeError
