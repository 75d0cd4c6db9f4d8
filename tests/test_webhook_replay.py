"""A Unified.to replay end to end: a result written, then the order's older delivery sent again."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from app import Services
from providers.models import OrderRef, OrderStatus
from sandbox import Sandboxes
from tests.conftest import GraphQLClient
from tests.test_graphql_results import find_order, update

UNIFIED = "sandbox-unified-to"


async def test_a_replayed_or_late_delivery_never_rolls_a_written_order_back(
    gql: GraphQLClient, services: Services, sandboxes: Sandboxes
) -> None:
    # given a seeded Unified.to order (delivered by the sandbox's signed webhook) written COMPLETED
    order = await find_order(gql, "UNIFIED_TO")
    seed = next(d for d in sandboxes.unified_to.deliveries if d.order_id == order["providerOrderId"])
    written = await update(gql, orderId=order["id"], status="COMPLETED", resultUrl="https://vendor.example.com/r/1")
    assert written["data"]["updateAssessmentResult"]["delivery"]["state"] == "DELIVERED"
    ref = OrderRef.parse(order["id"])
    # when the original delivery is posted again, re-serialised and with another unsigned event
    body = json.loads(seed.raw_body)
    body["webhook"] = {**body["webhook"], "event": "updated"}
    replay = await gql.http.post(f"/webhooks/{UNIFIED}", content=json.dumps(body, indent=2).encode(),
                                 headers={"content-type": "application/json"})  # fmt: skip
    # then it is a redelivery
    assert replay.json()["duplicate"] is True
    # and when the same old version arrives as a new, validly signed delivery (another nonce)
    secret = services.context.connections[UNIFIED].webhook_secret or ""
    nonce = "late-delivery"
    message = (json.dumps(body["data"], separators=(",", ":"), ensure_ascii=False) + nonce).encode()
    sig = base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha1).digest()).decode()
    late = await gql.http.post(f"/webhooks/{UNIFIED}", json={**body, "nonce": nonce, "sig": sig})
    assert late.json()["duplicate"] is False
    # then the order stays COMPLETED: the older version does not overwrite it
    stored = (await services.store.get_orders([ref]))[ref]
    assert stored.status is OrderStatus.COMPLETED
