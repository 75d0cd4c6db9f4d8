"""Federation: `_service { sdl }` and `_entities` resolve AssessmentOrder by id."""

from __future__ import annotations

from tests.conftest import GraphQLClient

ENTITIES = """
query($reps: [_Any!]!) {
  _entities(representations: $reps) {
    ... on AssessmentOrder { id provider providerOrderId status candidate { emails } }
  }
}
"""


async def test_service_sdl_carries_the_key(gql: GraphQLClient) -> None:
    body = await gql("{ _service { sdl } }")
    assert '@key(fields: "id")' in body["data"]["_service"]["sdl"]


async def test_entities_resolve_orders_of_every_provider(gql: GraphQLClient) -> None:
    # given one order id per provider from the list
    listed = await gql("{ assessmentOrders(first: 100) { edges { node { id provider } } } }")
    by_provider = {}
    for edge in listed["data"]["assessmentOrders"]["edges"]:
        by_provider.setdefault(edge["node"]["provider"], edge["node"]["id"])
    assert set(by_provider) == {"STACKONE", "KOMBO", "UNIFIED_TO"}
    reps = [{"__typename": "AssessmentOrder", "id": i} for i in by_provider.values()]
    # when a gateway asks for them as entities
    body = await gql(ENTITIES, {"reps": reps})
    # then each comes back, in order
    assert "errors" not in body
    assert [e["id"] for e in body["data"]["_entities"]] == list(by_provider.values())
    assert [e["provider"] for e in body["data"]["_entities"]] == list(by_provider)


async def test_unknown_entity_is_a_coded_error(gql: GraphQLClient) -> None:
    from providers.models import OrderRef

    missing = OrderRef("sandbox-kombo", "doesnotexist").encode()
    body = await gql(ENTITIES, {"reps": [{"__typename": "AssessmentOrder", "id": missing}]})
    assert body["data"]["_entities"] == [None]
    assert len(body["errors"]) == 1
    assert body["errors"][0]["extensions"] == {"code": "NOT_FOUND"}


async def test_entities_and_nested_results_are_batched(gql: GraphQLClient, services) -> None:  # type: ignore[no-untyped-def]
    # given every seeded order, asked for twice over as entities with their results
    listed = await gql("{ assessmentOrders(first: 100) { edges { node { id } } } }")
    ids = [e["node"]["id"] for e in listed["data"]["assessmentOrders"]["edges"]]
    reps = [{"__typename": "AssessmentOrder", "id": i} for i in ids * 2]
    # when a gateway resolves them
    with services.store.statements() as tally:
        body = await gql(
            "query($r: [_Any!]!) { _entities(representations: $r) { ... on AssessmentOrder { id result { id } } } }",
            {"r": reps},
        )
    # then all come back with one query for the orders and one for their results
    assert [e["id"] for e in body["data"]["_entities"]] == ids * 2
    assert tally.count == 2
