"""Prometheus metrics: one registry per app, fed by the edge, provider transports and resolvers; `/metrics`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from providers.errors import ErrorCode
from providers.guard import BreakerState
from resolvers.context import AppContext
from server.metrics_access import MetricsAccess

MAX_OPERATIONS = 200  # distinct operation-name labels; further names are counted as "other"
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 70.0)
_STATES = ("PENDING", "RETRYING", "DELIVERED", "FAILED", "CANCELLED", "SUPERSEDED")


class Metrics:
    """Every metric of one running service (its own registry, so apps in one process stay apart)."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.graphql = Histogram("gateway_graphql_request_duration_seconds", "GraphQL requests over HTTP.",
                                 ["operation", "outcome"], buckets=_BUCKETS, registry=r)  # fmt: skip
        self.provider_calls = Histogram("gateway_provider_request_duration_seconds",
                                        "Provider HTTP calls, to the answer's headers.",
                                        ["provider", "connection", "status"], buckets=_BUCKETS, registry=r)  # fmt: skip
        self.deliveries = Gauge("gateway_deliveries", "Recorded results by delivery state.", ["state"], registry=r)
        self.transitions = Counter("gateway_delivery_transitions_total", "Delivery state changes.",
                                   ["connection", "from_state", "to_state"], registry=r)  # fmt: skip
        self.queue_depth = Gauge("gateway_delivery_queue_depth", "Results waiting (PENDING or RETRYING).",
                                 ["connection"], registry=r)  # fmt: skip
        self.oldest_age = Gauge("gateway_delivery_oldest_waiting_age_seconds",
                                "Age of the oldest waiting result (0 when none waits).", ["connection"], registry=r)
        self.breaker = Gauge("gateway_breaker_state", "Circuit breaker per connection: 1 for its current state.",
                             ["connection", "provider", "state"], registry=r)  # fmt: skip
        self.webhooks = Counter("gateway_webhook_requests_total", "Webhook deliveries received.",
                                ["provider", "connection", "outcome"], registry=r)  # fmt: skip
        self.sync_runs = Counter("gateway_kombo_sync_runs_total", "Kombo order-sync runs.",
                                 ["connection", "outcome"], registry=r)  # fmt: skip
        self.sync_orders = Counter("gateway_kombo_sync_orders_total", "Orders read by Kombo sync runs.",
                                   ["connection"], registry=r)  # fmt: skip
        self._operations: set[str] = set()
        # The labelled children of the per-request metrics, by label values: `labels()` validates and
        # joins the values under a lock on every call; the label sets here are bounded (operations are
        # capped at MAX_OPERATIONS, connections and states are configured or fixed).
        self._requests: dict[tuple[str, ...], Any] = {}
        self._calls: dict[tuple[str, ...], Any] = {}
        self._transitions: dict[tuple[str, ...], Any] = {}

    # ------------------------------------------------------------------ events

    def graphql_request(self, operation: str | None, outcome: str, seconds: float) -> None:
        _child(self._requests, self.graphql, (self._operation_label(operation), outcome)).observe(seconds)

    def _operation_label(self, operation: str | None) -> str:
        name = (operation or "anonymous")[:64]
        if name in self._operations:
            return name
        if len(self._operations) >= MAX_OPERATIONS:
            return "other"
        self._operations.add(name)
        return name

    def provider_call(self, provider: str, connection: str, status: str, seconds: float) -> None:
        _child(self._calls, self.provider_calls, (provider, connection, status)).observe(seconds)

    def delivery_transition(self, connection_id: str, from_state: str, to_state: str) -> None:
        _child(self._transitions, self.transitions, (connection_id, from_state, to_state)).inc()

    def sync_run(self, connection_id: str, outcome: str, orders: int) -> None:
        self.sync_runs.labels(connection_id, outcome).inc()
        if orders:
            self.sync_orders.labels(connection_id).inc(orders)

    def webhook(self, provider: str, connection: str, outcome: str) -> None:
        self.webhooks.labels(provider, connection, outcome).inc()

    # ------------------------------------------------------------------ at scrape time

    async def refresh(self, ctx: AppContext) -> None:
        """Gauges read from the store and the connection guards when scraped."""
        stats = await ctx.store.delivery_stats()
        for state in sorted(set(_STATES) | set(stats.by_state)):
            self.deliveries.labels(state).set(stats.by_state.get(state, 0))
        now = datetime.now(UTC)
        for connection_id in ctx.connections:
            queue = stats.queues.get(connection_id)
            self.queue_depth.labels(connection_id).set(queue.waiting if queue else 0)
            oldest = queue.oldest_recorded_at if queue else None
            self.oldest_age.labels(connection_id).set(max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
        for connection in ctx.connections.values():
            current = ctx.dispatch.guard(connection).state
            for state in BreakerState:
                self.breaker.labels(connection.id, connection.provider.value, state.value).set(state is current)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _child(children: dict[tuple[str, ...], Any], metric: Any, values: tuple[str, ...]) -> Any:
    """`metric.labels(*values)`, looked up once per set of values."""
    child = children.get(values)
    if child is None:
        child = children[values] = metric.labels(*values)
    return child


def metrics_endpoint(
    metrics: Metrics, access: MetricsAccess, app_context: Callable[[], AppContext]
) -> Callable[[Request], object]:
    """`GET /metrics`: FORBIDDEN (403) to callers the access rule does not admit."""

    async def endpoint(request: Request) -> Response:
        if not access.admits(request.client.host if request.client else None, request.headers.get("authorization")):
            error = {"message": "Not allowed to read metrics.", "extensions": {"code": ErrorCode.FORBIDDEN.value}}
            return JSONResponse({"errors": [error]}, 403)
        await metrics.refresh(app_context())
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return endpoint
