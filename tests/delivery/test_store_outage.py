"""A store outage is not a bug: with the service's PostgreSQL stopped (its own cluster, `-m immediate`),
GraphQL callers get a coded SERVICE_UNAVAILABLE (503 + Retry-After for graphql-response+json, 200 for
application/json), `/ready` says 503 while `/health` stays ok, and a delivery attempt that meets the
outage stays due and is delivered once the store is back, never FAILED."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from app import Services, build_services, create_app
from providers.errors import ErrorCode
from providers.models import DeliveryState, OrderRef
from resolvers.delivery import attempt
from sandbox import Sandboxes
from server.deliverer import Deliverer
from server.settings import sandbox_settings
from tests.delivery.conftest import CALL_TIMEOUT, FAST, QUARANTINE, eventually
from tests.delivery.own_cluster import OwnCluster
from tests.delivery.test_delivery_faults import WRITE, result_input

pytestmark = pytest.mark.postgres
QUERY = "query { assessmentOrders(first: 1) { edges { node { id } } } }"
STACKONE_ORDER = "query { assessmentOrders(first: 1, filter: {providers: [STACKONE]}) { edges { node { id providerOrderId } } } }"


@pytest.fixture
async def cluster() -> AsyncIterator[OwnCluster]:
    own = OwnCluster().init()
    own.start()
    yield own
    own.remove()


@pytest.fixture
async def outage_services(cluster: OwnCluster, sandboxes: Sandboxes) -> AsyncIterator[Services]:
    settings = sandbox_settings(cluster.url)
    limits = {"timeout_seconds": CALL_TIMEOUT, "quarantine_seconds": QUARANTINE}
    connections = tuple(c.model_copy(update=limits) for c in settings.connections)
    built = await build_services(settings.model_copy(update={"delivery": FAST, "connections": connections}),
                                 sandboxes=sandboxes)  # fmt: skip
    yield built
    await built.aclose()


@pytest.fixture
async def http(outage_services: Services) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(outage_services))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        yield client


async def _post(http: httpx.AsyncClient, accept: str) -> httpx.Response:
    return await http.post("/graphql", json={"query": QUERY}, headers={"Accept": accept})


async def test_callers_get_service_unavailable_and_ready_says_why(
    cluster: OwnCluster, outage_services: Services, http: httpx.AsyncClient
) -> None:
    deliverer = Deliverer(outage_services.context)
    await deliverer.start()
    try:
        # given a healthy service: ready
        ready = await http.get("/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"store": "ok", "migrations": "ok", "deliverer": "ok"}
        # when its PostgreSQL stops
        cluster.stop()
        # then GraphQL answers a coded SERVICE_UNAVAILABLE, 503 with Retry-After per media type ...
        strict = await _post(http, "application/graphql-response+json")
        assert strict.status_code == 503 and strict.headers["retry-after"]
        assert [e["extensions"]["code"] for e in strict.json()["errors"]] == [ErrorCode.SERVICE_UNAVAILABLE]
        legacy = await _post(http, "application/json")
        assert legacy.status_code == 200 and legacy.headers["retry-after"]
        assert [e["extensions"]["code"] for e in legacy.json()["errors"]] == [ErrorCode.SERVICE_UNAVAILABLE]
        # ... /ready is 503 and says the store is unreachable, while /health (liveness) is ok
        down = await http.get("/ready")
        assert down.status_code == 503 and down.json()["checks"]["store"] == "unreachable"
        assert (await http.get("/health")).status_code == 200
        # and once the store is back, so is the service
        cluster.start()

        async def recovered() -> bool:
            return (await http.get("/ready")).status_code == 200 and (await _post(http, "application/json")).json().get("data") is not None

        await eventually(recovered, timeout=20)
    finally:
        await deliverer.stop()
    # a stopped deliverer is not ready either
    stopped = await http.get("/ready")
    assert stopped.status_code == 503 and stopped.json()["checks"]["deliverer"] == "not running"


async def test_an_attempt_that_meets_a_store_outage_stays_due_then_is_delivered(
    cluster: OwnCluster, outage_services: Services, http: httpx.AsyncClient, sandboxes: Sandboxes
) -> None:
    ctx = outage_services.context
    order = (await http.post("/graphql", json={"query": STACKONE_ORDER})).json()["data"]["assessmentOrders"]["edges"][0]["node"]
    ref = OrderRef.parse(order["id"])
    # given a result recorded while every StackOne slot is taken (queued, due now, nothing sent)
    connection = ctx.connections[ref.connection_id]
    guard = ctx.dispatch.guard(connection)
    held = [guard.try_reserve() for _ in range(guard.limits.max_in_flight)]
    ctx.dispatch.policy = ctx.dispatch.policy.model_copy(update={"mutation_deadline_seconds": 0.01})
    variables = {"input": result_input(order["id"], "after the outage")}
    written = (await http.post("/graphql", json={"query": WRITE, "variables": variables})).json()
    assert written["data"]["updateAssessmentResult"]["delivery"]["state"] == "PENDING"
    for _ in held:
        guard.unreserve()
    # and claimed for an attempt
    [record] = await ctx.store.claim_due(ctx.dispatch.claim(ctx.clock(), [connection]), {connection.id: 1}, 1)
    assert ctx.dispatch.guard(connection).try_reserve()
    # when the store goes away before the attempt reads the order
    cluster.stop()
    attempted = await attempt(ctx, record)
    # then nothing was sent and the attempt is not a failure: the store was out
    assert attempted.delivery.state is not DeliveryState.FAILED
    assert not [r for r in sandboxes.stackone.received if r.method == "PATCH"]
    # and once the store is back the deliverer delivers it, once
    cluster.start()
    deliverer = Deliverer(ctx)
    await deliverer.start()
    try:
        async def delivered() -> bool:
            try:
                return (await ctx.store.latest_results([ref]))[ref].delivery.state is DeliveryState.DELIVERED
            except Exception:  # noqa: BLE001 - the pool reconnects
                return False

        await eventually(delivered, timeout=30)
    finally:
        await deliverer.stop()
    result = (await ctx.store.latest_results([ref]))[ref]
    assert (result.delivery.sends, result.delivery.state) == (1, DeliveryState.DELIVERED)
    assert sandboxes.stackone.faults.applied == {order["providerOrderId"]: 1}
    assert sandboxes.stackone.results[order["providerOrderId"]]["summary"] == "after the outage"
