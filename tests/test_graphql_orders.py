"""Reading orders through GraphQL: one, many, filtered, paged."""

from __future__ import annotations

from providers.models import OrderRef
from tests.conftest import GraphQLClient

LIST = """
query($filter: AssessmentOrderFilter, $first: Int, $after: String) {
  assessmentOrders(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id provider connection { id provider } providerOrderId status providerStatus } }
  }
}
"""

ONE = """
query($id: ID!) {
  assessmentOrder(id: $id) {
    id provider providerOrderId status providerStatus
    package { id name }
    candidate { firstName lastName name emails phones profileUrl resumeUrl remoteId }
    application { remoteId } job { remoteId title code location }
    createdAt updatedAt providerData
    result { status }
  }
}
"""


async def test_lists_seeded_orders_of_every_provider_in_several_statuses(gql: GraphQLClient) -> None:
    body = await gql(LIST, {"first": 100})
    page = body["data"]["assessmentOrders"]
    nodes = [e["node"] for e in page["edges"]]
    assert page["totalCount"] == len(nodes) >= 15
    for provider in ("STACKONE", "KOMBO", "UNIFIED_TO"):
        mine = [n for n in nodes if n["provider"] == provider]
        assert len(mine) >= 5
        assert len({n["status"] for n in mine}) >= 3
        assert all(n["connection"]["provider"] == provider for n in mine)


async def test_filters_on_provider_connection_and_status(gql: GraphQLClient) -> None:
    kombo = await gql(LIST, {"filter": {"providers": ["KOMBO"]}, "first": 100})
    nodes = [e["node"] for e in kombo["data"]["assessmentOrders"]["edges"]]
    assert nodes and {n["provider"] for n in nodes} == {"KOMBO"}

    conn = await gql(LIST, {"filter": {"connectionIds": ["sandbox-unified-to"]}, "first": 100})
    nodes = [e["node"] for e in conn["data"]["assessmentOrders"]["edges"]]
    assert nodes and {n["connection"]["id"] for n in nodes} == {"sandbox-unified-to"}

    open_ = await gql(LIST, {"filter": {"statuses": ["OPEN", "IN_PROGRESS"]}, "first": 100})
    statuses = {e["node"]["status"] for e in open_["data"]["assessmentOrders"]["edges"]}
    assert statuses == {"OPEN", "IN_PROGRESS"}

    unknown = await gql(LIST, {"filter": {"connectionIds": ["nobody"]}, "first": 100})
    assert unknown["data"]["assessmentOrders"]["totalCount"] == 0


async def test_pages_with_cursors_cover_every_order_once(gql: GraphQLClient) -> None:
    seen: list[str] = []
    after = None
    while True:
        body = await gql(LIST, {"first": 4, "after": after})
        page = body["data"]["assessmentOrders"]
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == page["totalCount"]


async def test_one_order_by_id_has_candidate_job_package(gql: GraphQLClient) -> None:
    listed = await gql(LIST, {"filter": {"providers": ["KOMBO"]}, "first": 1})
    order_id = listed["data"]["assessmentOrders"]["edges"][0]["node"]["id"]
    body = await gql(ONE, {"id": order_id})
    order = body["data"]["assessmentOrder"]
    assert order["id"] == order_id
    assert order["candidate"]["emails"] and order["candidate"]["firstName"]
    assert order["package"]["id"] and order["job"]["title"]
    assert order["providerData"]["id"] == order["providerOrderId"]
    ref = OrderRef.parse(order_id)
    assert (ref.connection_id, ref.provider_order_id) == ("sandbox-kombo", order["providerOrderId"])


async def test_unknown_order_is_null_and_malformed_id_is_bad_input(gql: GraphQLClient) -> None:
    missing = OrderRef("sandbox-kombo", "nope").encode()
    body = await gql(ONE, {"id": missing})
    assert body == {"data": {"assessmentOrder": None}}

    other_connection = OrderRef("not-configured", "x").encode()
    body = await gql(ONE, {"id": other_connection})
    assert body == {"data": {"assessmentOrder": None}}

    body = await gql(ONE, {"id": "not-an-id!"})
    assert body["data"] == {"assessmentOrder": None}
    assert [e["extensions"] for e in body["errors"]] == [{"code": "BAD_USER_INPUT", "field": "orderId"}]


async def test_page_size_is_bounded(gql: GraphQLClient) -> None:
    body = await gql(LIST, {"first": 1000})
    assert body.get("data") is None  # refused at the edge, before the cost estimate: a request error
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]


async def test_a_candidate_without_a_provider_full_name_is_named_by_first_and_last(gql: GraphQLClient) -> None:
    query = "{ assessmentOrders(first: 100, filter: {providers: [KOMBO]}) { edges { node { candidate { firstName lastName name } } } } }"
    body = await gql(query)
    candidates = [e["node"]["candidate"] for e in body["data"]["assessmentOrders"]["edges"]]
    assert candidates and all(c["firstName"] and c["lastName"] for c in candidates)  # Kombo gives no full name
    assert [c["name"] for c in candidates] == [f"{c['firstName']} {c['lastName']}" for c in candidates]
