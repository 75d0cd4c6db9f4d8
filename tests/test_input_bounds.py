"""Input bounds: nothing is stored that cannot be read back, and every out-of-bounds value is a coded refusal."""

from __future__ import annotations

import json
from typing import Any

import pytest

from providers import bounds
from providers.errors import ErrorCode
from sandbox import Sandboxes
from tests.conftest import GraphQLClient
from tests.test_graphql_results import find_order

READ_ORDERS = """{ assessmentOrders(first: 100) { edges { node { id result { id status score { value }
  attributes { label value score { value max } } attachments { name } passthrough summary idempotencyKey } } } } }"""
READ_DELIVERIES = """{ deliveries(first: 100) { edges { node { orderId delivery { state }
  result { id attributes { score { value } } passthrough } } } } }"""
RESULT_OF = "query($id: ID!) { assessmentOrder(id: $id) { result { id status attributes { score { value } } passthrough } } }"
LITERAL_WRITE = """mutation { updateAssessmentResult(input: {orderId: "%s", status: COMPLETED, %s}) { delivery { state } } }"""
VARIABLE_WRITE = "mutation($input: UpdateAssessmentResultInput!) { updateAssessmentResult(input: $input) { delivery { state } } }"


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def graphql_literal(value: Any) -> str:
    """A JSON value written as a GraphQL input literal (object keys unquoted, `type` an enum value)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {v if k == 'type' else graphql_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(graphql_literal(v) for v in value) + "]"
    return json.dumps(value)


async def assert_everything_reads(gql: GraphQLClient, order_id: str) -> None:
    for query in (READ_ORDERS, READ_DELIVERIES):
        listed = await gql(query)
        assert "errors" not in listed, listed
    single = await gql(RESULT_OF, {"id": order_id})
    assert "errors" not in single, single


async def post_ascii(gql: GraphQLClient, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """Post with every non-ASCII character escaped, as a JSON client may send a lone surrogate (`\\ud800`)."""
    content = json.dumps({"query": query, "variables": variables}, ensure_ascii=True)
    response = await gql.http.post("/graphql", content=content, headers={"content-type": "application/json"})
    assert response.status_code in (200, 400), response.text
    body: dict[str, Any] = response.json()
    return body


def the_error(body: dict[str, Any]) -> dict[str, Any]:
    assert len(body.get("errors", [])) == 1, body
    error: dict[str, Any] = body["errors"][0]
    return error


# ----------------------------------------------------------------------------- issue item 1


async def test_literal_1e400_score_is_refused_and_the_order_still_reads(gql: GraphQLClient, sandboxes: Sandboxes) -> None:
    # given a StackOne order
    order = await find_order(gql, "STACKONE")
    # when a sub-result score of 1e400 is written as a literal in the document (not in variables)
    attributes = 'attributes: [{type: SUB_RESULT, label: "x", score: {value: 1e400}}]'
    body = await gql(LITERAL_WRITE % (order["id"], attributes))
    # then it is refused with the field named, nothing reaches StackOne
    error = the_error(body)
    assert error["extensions"]["code"] == ErrorCode.BAD_USER_INPUT
    assert error["extensions"]["field"] == "attributes[0].score.value"
    assert not [r for r in sandboxes.stackone.received if r.method in ("PUT", "PATCH")]
    # and the order, its result, the deliveries list and the order list all still read
    await assert_everything_reads(gql, order["id"])


async def test_deep_passthrough_literal_is_refused_and_the_order_still_reads(gql: GraphQLClient) -> None:
    # given an order and a passthrough nested one level deeper than allowed, as a document literal
    order = await find_order(gql, "STACKONE")
    passthrough = graphql_literal(nested(bounds.MAX_JSON_DEPTH + 1))
    # when it is written
    body = await gql(LITERAL_WRITE % (order["id"], f"passthrough: {passthrough}"))
    # then it is refused on the passthrough field and the order still reads
    error = the_error(body)
    assert error["extensions"] == {"code": ErrorCode.BAD_USER_INPUT, "field": "passthrough"}
    await assert_everything_reads(gql, order["id"])


async def test_passthrough_at_the_depth_bound_is_stored_and_read_back(gql: GraphQLClient) -> None:
    # given a passthrough exactly as deep as allowed
    order = await find_order(gql, "STACKONE")
    deepest = nested(bounds.MAX_JSON_DEPTH)
    # when it is written in variables
    body = await gql(VARIABLE_WRITE, {"input": {"orderId": order["id"], "status": "COMPLETED", "passthrough": deepest}})
    # then it is accepted and reads back unchanged
    assert "errors" not in body, body
    read = await gql(RESULT_OF, {"id": order["id"]})
    assert read["data"]["assessmentOrder"]["result"]["passthrough"] == deepest
    await assert_everything_reads(gql, order["id"])


# ----------------------------------------------------------------------------- the class: every input field

LONG_LABEL = "x" * (bounds.MAX_LABEL + 1)
OUT_OF_BOUNDS = [
    ("sub-result score 1e400", {"attributes": [{"type": "SUB_RESULT", "label": "x", "score": {"value": "1e400"}}]},
     "attributes[0].score.value"),
    ("sub-result max 1e400", {"attributes": [{"type": "SUB_RESULT", "label": "x", "score": {"value": 1, "max": "1e400"}}]},
     "attributes[0].score.max"),
    ("score 1e400", {"score": {"value": "1e400"}}, "score.value"),
    ("score max -1e400", {"score": {"value": 1, "max": "-1e400"}}, "score.max"),
    ("NUMBER nan", {"attributes": [{"type": "NUMBER", "label": "x", "value": "nan"}]}, "attributes[0].value"),
    ("NUMBER inf", {"attributes": [{"type": "NUMBER", "label": "x", "value": "inf"}]}, "attributes[0].value"),
    ("NUMBER -Infinity", {"attributes": [{"type": "NUMBER", "label": "x", "value": "-Infinity"}]}, "attributes[0].value"),
    ("NUMBER 1e999", {"attributes": [{"type": "NUMBER", "label": "x", "value": "1e999"}]}, "attributes[0].value"),
    ("long attribute label", {"attributes": [{"type": "TEXT", "label": LONG_LABEL, "value": "v"}]}, "attributes[0].label"),
    ("long attribute value", {"attributes": [{"type": "TEXT", "label": "l", "value": "v" * (bounds.MAX_TEXT + 1)}]},
     "attributes[0].value"),
    ("long sub-result id", {"attributes": [{"type": "TEXT", "label": "l", "value": "v", "id": LONG_LABEL}]},
     "attributes[0].id"),
    ("long attachment name", {"attachments": [{"url": "https://v.example/r.pdf", "name": LONG_LABEL}]},
     "attachments[0].name"),
    ("long attachment type", {"attachments": [{"url": "https://v.example/r.pdf", "contentType": LONG_LABEL}]},
     "attachments[0].contentType"),
    ("long attachment url", {"attachments": [{"url": "https://v.example/" + "r" * bounds.MAX_URL}]}, "attachments[0].url"),
    ("long result url", {"resultUrl": "https://v.example/" + "r" * bounds.MAX_URL}, "resultUrl"),
    ("long profile url", {"candidateProfileUrl": "https://v.example/" + "r" * bounds.MAX_URL}, "candidateProfileUrl"),
    ("long score label", {"score": {"value": 1, "label": LONG_LABEL}}, "score.label"),
    ("long summary", {"summary": "s" * (bounds.MAX_TEXT + 1)}, "summary"),
    ("long idempotency key", {"idempotencyKey": "k" * (bounds.MAX_KEY + 1)}, "idempotencyKey"),
    ("too many attributes", {"attributes": [{"type": "TEXT", "label": "l", "value": "v"}] * (bounds.MAX_ATTRIBUTES + 1)},
     "attributes"),
    ("passthrough integer beyond 2^53", {"passthrough": {"n": 2**53 + 1}}, "passthrough"),
    ("passthrough larger than allowed", {"passthrough": {"s": "p" * (bounds.MAX_JSON_BYTES + 1)}}, "passthrough"),
    ("passthrough 1e400", {"passthrough": {"n": "1e400"}}, "passthrough"),
]  # fmt: skip


def literal_input(fields: dict[str, Any]) -> str:
    """Fields as document literals; a string "1e400" where a number goes is written as the bare literal."""
    text = graphql_literal(fields)[1:-1]
    return text.replace('"1e400"', "1e400").replace('"-1e400"', "-1e400")


def variable_input(fields: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(fields)
    return json.loads(text.replace('"1e400"', "1e308").replace('"-1e400"', "-1e308"))


@pytest.mark.parametrize(("_case", "fields", "field"), OUT_OF_BOUNDS, ids=[c[0] for c in OUT_OF_BOUNDS])
async def test_every_out_of_bounds_literal_is_a_coded_refusal(
    gql: GraphQLClient, _case: str, fields: dict[str, Any], field: str
) -> None:
    # given an order of each write path (StackOne takes every field)
    order = await find_order(gql, "STACKONE")
    # when the value is written as a literal in the document
    body = await gql(LITERAL_WRITE % (order["id"], literal_input(fields)))
    # then it is refused with BAD_USER_INPUT on its field, and every read still works
    error = the_error(body)
    assert error["extensions"]["code"] == ErrorCode.BAD_USER_INPUT, error
    assert error["extensions"].get("field") == field, error
    await assert_everything_reads(gql, order["id"])


@pytest.mark.parametrize(("_case", "fields", "field"), OUT_OF_BOUNDS, ids=[c[0] for c in OUT_OF_BOUNDS])
async def test_every_out_of_bounds_variable_is_a_coded_refusal(
    gql: GraphQLClient, _case: str, fields: dict[str, Any], field: str
) -> None:
    # given an order; 1e400 cannot be sent in JSON, so variables carry 1e308 where it stays finite
    order = await find_order(gql, "STACKONE")
    values = variable_input(fields)
    # when the value is sent in variables
    body = await gql(VARIABLE_WRITE, {"input": {"orderId": order["id"], "status": "COMPLETED", **values}})
    # then it is refused (1e308 is finite, so a score of 1e308 may pass the bounds: then nothing is stored
    # that cannot be read back), and every read still works
    if "errors" in body:
        assert the_error(body)["extensions"]["code"] == ErrorCode.BAD_USER_INPUT, body
    else:
        assert "1e400" in json.dumps(fields), body  # only the 1e400 cases become finite in variables
    await assert_everything_reads(gql, order["id"])


async def test_values_at_the_bounds_are_stored_and_read_back(gql: GraphQLClient) -> None:
    # given values exactly at each length bound
    order = await find_order(gql, "STACKONE")
    label, key = "l" * bounds.MAX_LABEL, "k" * bounds.MAX_KEY
    values = {
        "orderId": order["id"], "status": "COMPLETED", "summary": "s" * bounds.MAX_TEXT, "idempotencyKey": key,
        "attributes": [{"type": "SUB_RESULT", "label": label, "score": {"value": 1.5e308}}],
        "attachments": [{"url": "https://v.example/" + "r" * (bounds.MAX_URL - 18), "name": label}],
    }  # fmt: skip
    # when they are written
    body = await gql(VARIABLE_WRITE, {"input": values})
    # then they are accepted and read back
    assert "errors" not in body, body
    read = await gql(READ_ORDERS)
    assert "errors" not in read, read
    results = [e["node"]["result"] for e in read["data"]["assessmentOrders"]["edges"] if e["node"]["id"] == order["id"]]
    assert results[0]["idempotencyKey"] == key
    assert results[0]["attributes"][0]["label"] == label


# ----------------------------------------------------------------------------- item 7: dates and Unicode

BAD_DATES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00Z",
             "9999-12-31T23:59:59Z", "0001-01-01T13:59:59+14:00", "9999-12-31T00:00:00-00:01"]  # fmt: skip


@pytest.mark.parametrize("value", BAD_DATES)
@pytest.mark.parametrize("field", ["completedAt", "startedAt"])
async def test_out_of_range_result_dates_are_refused(gql: GraphQLClient, value: str, field: str) -> None:
    order = await find_order(gql, "STACKONE")
    as_variable = await gql(VARIABLE_WRITE, {"input": {"orderId": order["id"], "status": "COMPLETED", field: value}})
    as_literal = await gql(LITERAL_WRITE % (order["id"], f'{field}: "{value}"'))
    for body in (as_variable, as_literal):
        assert the_error(body)["extensions"]["code"] == ErrorCode.BAD_USER_INPUT, body
    await assert_everything_reads(gql, order["id"])


@pytest.mark.parametrize("value", BAD_DATES)
@pytest.mark.parametrize("field", ["createdAfter", "createdBefore", "updatedAfter", "updatedBefore"])
async def test_out_of_range_filter_dates_are_refused(gql: GraphQLClient, value: str, field: str) -> None:
    query = "query($f: AssessmentOrderFilter) { assessmentOrders(filter: $f) { totalCount } }"
    as_variable = await gql(query, {"f": {field: value}})
    as_literal = await gql("{ assessmentOrders(filter: {" + f'{field}: "{value}"' + "}) { totalCount } }")
    for body in (as_variable, as_literal):
        assert the_error(body)["extensions"]["code"] == ErrorCode.BAD_USER_INPUT, body


async def test_dates_at_the_range_ends_are_accepted(gql: GraphQLClient) -> None:
    query = "query($f: AssessmentOrderFilter) { assessmentOrders(filter: $f) { totalCount } }"
    low, high = "0001-01-02T00:00:00Z", "9999-12-30T23:59:59.999Z"
    body = await gql(query, {"f": {"createdAfter": low, "createdBefore": high, "updatedAfter": low}})
    assert "errors" not in body, body
    assert body["data"]["assessmentOrders"]["totalCount"] > 0


@pytest.mark.parametrize("field", ["search", "candidateEmail"])
async def test_lone_surrogate_in_a_filter_is_a_coded_refusal(gql: GraphQLClient, field: str) -> None:
    query = "query($f: AssessmentOrderFilter) { assessmentOrders(filter: $f) { totalCount } }"
    body = await post_ascii(gql, query, {"f": {field: "ab\ud800cd"}})
    assert the_error(body)["extensions"]["code"] in (ErrorCode.BAD_REQUEST, ErrorCode.BAD_USER_INPUT)


async def test_lone_surrogate_in_a_summary_is_a_coded_refusal(gql: GraphQLClient) -> None:
    order = await find_order(gql, "STACKONE")
    body = await post_ascii(gql, VARIABLE_WRITE, {"input": {"orderId": order["id"], "status": "COMPLETED", "summary": "\ud800"}})
    assert the_error(body)["extensions"]["code"] in (ErrorCode.BAD_REQUEST, ErrorCode.BAD_USER_INPUT)
    literal = await gql(LITERAL_WRITE % (order["id"], 'summary: "\\ud800"'))
    assert the_error(literal)["extensions"]["code"] == ErrorCode.GRAPHQL_PARSE_FAILED
    await assert_everything_reads(gql, order["id"])


@pytest.mark.parametrize("field", ["search", "candidateEmail"])
async def test_long_filter_text_is_refused(gql: GraphQLClient, field: str) -> None:
    query = "query($f: AssessmentOrderFilter) { assessmentOrders(filter: $f) { totalCount } }"
    body = await gql(query, {"f": {field: "a" * (bounds.MAX_SEARCH + 1)}})
    assert the_error(body)["extensions"] == {"code": ErrorCode.BAD_USER_INPUT, "field": field}


@pytest.mark.parametrize(
    ("query", "variables", "field"),
    [
        ("query($f: AssessmentOrderFilter) { assessmentOrders(filter: $f) { totalCount } }",
         {"f": {"connectionIds": ["c"] * (bounds.MAX_FILTER_VALUES + 1)}}, "connectionIds"),
        ("query($f: AssessmentOrderFilter) { assessmentOrders(filter: $f) { totalCount } }",
         {"f": {"packageIds": ["p" * (bounds.MAX_ID + 1)]}}, "packageIds"),
        ("query($f: DeliveryFilter) { deliveries(filter: $f) { totalCount } }",
         {"f": {"connectionIds": ["c"] * (bounds.MAX_FILTER_VALUES + 1)}}, "connectionIds"),
    ],
)  # fmt: skip
async def test_list_filters_are_bounded(gql: GraphQLClient, query: str, variables: dict[str, Any], field: str) -> None:
    body = await gql(query, variables)
    assert the_error(body)["extensions"] == {"code": ErrorCode.BAD_USER_INPUT, "field": field}
