"""The default run receives its sandbox orders the real way: signed webhooks into /webhooks/{connection}."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app import Services, build_services, create_app
from resolvers.intake import settle_background
from sandbox import create_sandboxes
from server.settings import sandbox_settings
from store import OrderFilter
from tests.conftest import GraphQLClient

BY_EMAIL = """
query($email: String!) {
  assessmentOrders(first: 10, filter: {candidateEmail: $email}) {
    totalCount edges { node { provider providerOrderId status candidate { firstName lastName emails } } }
  }
}
"""
CONNECTIONS = {"stackone": "sandbox-stackone", "kombo": "sandbox-kombo", "unified_to": "sandbox-unified-to"}


async def test_every_seeded_order_arrived_as_a_verified_webhook_event(services: Services) -> None:
    boxes = services.sandboxes
    assert boxes is not None
    for name, connection_id in CONNECTIONS.items():
        box = getattr(boxes, name)
        assert box.deliveries and all(d.status == 200 for d in box.deliveries)
        events = await services.store.list_events(connection_id)
        assert len(events) == len(box.orders) >= 5
        recorded = {order_id for event in events for order_id in event.order_ids}
        assert recorded == set(box.orders)


@pytest.mark.parametrize("name", sorted(CONNECTIONS))
async def test_an_order_created_in_a_sandbox_arrives_in_the_service(
    services: Services, gql: GraphQLClient, name: str
) -> None:
    email = f"new.{name}@example.com"
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
        created = await http.post(
            f"/sandbox/{name}/_sandbox/orders", json={"first_name": "Nia", "last_name": "Okafor", "email": email}
        )
    assert created.status_code == 201 and created.json()["webhook_status"] == 200
    await settle_background(services.context)
    found = (await gql(BY_EMAIL, {"email": email}))["data"]["assessmentOrders"]
    assert found["totalCount"] == 1
    node = found["edges"][0]["node"]
    assert node["providerOrderId"] == created.json()["order"]["id"]
    assert node["status"] == "OPEN"
    assert (node["candidate"]["firstName"], node["candidate"]["lastName"], node["candidate"]["emails"]) == (
        "Nia", "Okafor", [email],
    )  # fmt: skip


async def test_a_restart_on_the_same_store_redelivers_without_duplicates(tmp_path: Path) -> None:
    settings = sandbox_settings(f"sqlite+aiosqlite:///{tmp_path / 'g.db'}")
    counts = []
    for _ in range(2):  # a second start: fresh sandboxes, same store
        built = await build_services(settings, sandboxes=create_sandboxes())
        try:
            page = await built.store.list_orders(OrderFilter(), first=100)
            counts.append(page.total_count)
            events = [await built.store.list_events(c) for c in CONNECTIONS.values()]
            counts.append(sum(len(e) for e in events))
        finally:
            await built.aclose()
    assert counts[0] == counts[2] >= 15  # orders
    assert counts[1] == counts[3] == counts[0]  # one event per seeded order, redeliveries deduplicated
