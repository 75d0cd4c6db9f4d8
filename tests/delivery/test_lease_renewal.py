"""A call that outlasts the renewal interval keeps its order's lease extended while it runs, on SQLite
and PostgreSQL (the renewal starts only then: most calls end before it and cost no renewal)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from sqlalchemy import select

from app import Services, build_services
from providers.models import DeliveryState, OrderRef
from sandbox import Sandboxes
from server.deliverer import Deliverer
from server.settings import sandbox_settings
from store.tables import delivery_leases
from tests.conftest import GraphQLClient
from tests.delivery.conftest import FAST, delivery_state, eventually
from tests.delivery.test_delivery_faults import WRITE, result_input
from tests.store.conftest import store_url  # noqa: F401  (the SQLite / PostgreSQL parametrisation)
from tests.test_graphql_results import find_order

INTERVAL = FAST.lease_margin_seconds / 3  # how often a call in flight renews its lease
CALL = 2.0  # the provider's answer takes this long (within the mutation deadline; the whole-call timeout is twice that)


@pytest.fixture
async def dservices(store_url: str, sandboxes: Sandboxes) -> AsyncIterator[Services]:  # noqa: F811
    settings = sandbox_settings(store_url)
    connections = tuple(c.model_copy(update={"timeout_seconds": 2 * CALL}) for c in settings.connections)
    built = await build_services(settings.model_copy(update={"delivery": FAST, "connections": connections}),
                                 sandboxes=sandboxes)  # fmt: skip
    deliverer = Deliverer(built.context)
    await deliverer.start()
    try:
        yield built
    finally:
        await deliverer.stop()
        await built.aclose()

# (`dgql` from tests/delivery/conftest.py serves this module's `dservices`)


async def _lease_until(services: Services, order_id: str) -> datetime | None:
    async with services.store.engine.connect() as conn:  # type: ignore[attr-defined]
        row = (await conn.execute(select(delivery_leases.c.lease_until, delivery_leases.c.sending).where(
            delivery_leases.c.order_id == OrderRef.parse(order_id).encode()))).first()  # fmt: skip
    return row.lease_until if row is not None and row.sending else None


async def test_a_long_call_renews_its_lease_until_it_ends(
    dgql: GraphQLClient, dservices: Services, sandboxes: Sandboxes
) -> None:
    order = await find_order(dgql, "STACKONE")
    # given a provider call that lasts many renewal intervals
    sandboxes.stackone.faults.configure({"latency_ms": [CALL * 1000, CALL * 1000]})
    write = asyncio.ensure_future(dgql(WRITE, {"input": result_input(order["id"], "long")}))
    first = await eventually(lambda: _lease_until(dservices, order["id"]))
    # then while it runs, the lease is pushed forward
    async def renewed() -> bool:
        now = await _lease_until(dservices, order["id"])
        return now is not None and (now - first).total_seconds() >= INTERVAL

    await eventually(renewed, timeout=CALL - 0.2)
    sandboxes.stackone.faults.configure({})
    # and the write ends delivered, its lease given back (no request out)
    body = await write
    assert body["data"]["updateAssessmentResult"]["delivery"]["state"] == "DELIVERED", body
    assert await _lease_until(dservices, order["id"]) is None
    assert await delivery_state(dservices, order["id"]) is DeliveryState.DELIVERED
