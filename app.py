"""Composition root: read settings, build store, sandbox, adapters, schema and the Starlette app.

`python app.py [--host H] [--port P] [--log-format F] [--log-level L]` serves it (`--help`:
server/cli.py). Importing this module has no side effects.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Mount, Route, WebSocketRoute

from providers.models import AssessmentOrder, OrderRef, ProviderName
from providers.observed import TransportWrapper, observed
from providers.protocol import AssessmentProvider
from providers.registry import build_provider, http_client
from providers.stackone.mapping import order_from_stackone
from resolvers.context import AppContext
from resolvers.dispatch import Dispatch
from resolvers.intake import settle_background
from resolvers.live import EventHub
from sandbox import Sandboxes, WebhookTarget, create_sandbox_app, create_sandboxes, deliver_all
from schema.root import build_schema
from server import tracing
from server.cli import check_config, parser
from server.deliverer import Deliverer, drain
from server.edge import Edge
from server.explorer import Explorer
from server.graphql import GraphQLView, coded_error
from server.live import Subscriptions, websocket_endpoint
from server.logs import configure_logging
from server.metrics import Metrics, metrics_endpoint
from server.persisted import load_configured_documents
from server.poller import Poller
from server.ready import ready_route
from server.request_context import RequestMiddleware
from server.serving import serve
from server.settings import Settings, SettingsError, load_settings
from server.webhooks import webhook_routes
from store import Store, create_store
from store.bus import create_bus

log = logging.getLogger("gateway")
SANDBOX_MOUNT = "/sandbox"


@dataclass
class Services:
    """Everything the running service holds; closed together."""

    settings: Settings
    store: Store
    context: AppContext
    sandboxes: Sandboxes | None = None
    clients: list[httpx.AsyncClient] = field(default_factory=list)
    metrics: Metrics = field(default_factory=Metrics)

    async def aclose(self) -> None:
        await drain(self.context)  # attempts in flight finish (or are given back) first
        if self.context.events is not None:
            await self.context.events.stop()
        for client in self.clients:
            await client.aclose()
        await self.store.close()


async def build_services(
    settings: Settings,
    *,
    store: Store | None = None,
    sandboxes: Sandboxes | None = None,
    seed: bool = True,
    metrics: Metrics | None = None,
    traced: bool = False,
) -> Services:
    """Build and start the service's parts; with sandbox connections, seed the order record.
    Provider calls feed `metrics`; with `traced`, provider calls and SQL statements are spans."""
    metrics = metrics or Metrics()
    if store is None:
        _ensure_sqlite_dir(settings.database_url)
        store = create_store(settings.database_url)
    if traced:
        tracing.instrument_store(store)
    await store.migrate()
    await load_configured_documents(settings.persisted_documents, store)
    if settings.sandbox and sandboxes is None:
        sandboxes = create_sandboxes(state_path=sandbox_state_path(settings.database_url))
    sandbox_transport = (
        httpx.ASGITransport(app=create_sandbox_app(sandboxes)) if sandboxes is not None else None
    )
    clients: list[httpx.AsyncClient] = []
    adapters: dict[str, AssessmentProvider] = {}
    wrap: list[TransportWrapper] = [observed(metrics.provider_call)]
    if traced:
        wrap.append(tracing.traced_transport)
    for connection in settings.connections:
        client = http_client(connection, sandbox_transport if connection.sandbox else None, wrap)
        clients.append(client)
        adapters[connection.id] = build_provider(connection, client)
    connections = {c.id: c for c in settings.connections}
    context = AppContext(
        store=store, connections=connections, adapters=adapters, observer=metrics,
        # PostgreSQL: other instances may queue results behind this one's leases (see Dispatch.shared)
        dispatch=Dispatch(policy=settings.delivery, shared=not settings.database_url.startswith("sqlite")),
    )
    context.events = EventHub(store, create_bus(settings.database_url), settings.events, context.clock)
    await context.events.start()
    services = Services(settings, store, context, sandboxes, clients, metrics)
    if sandboxes is not None and seed:
        await seed_from_sandboxes(services)
    return services


async def seed_from_sandboxes(services: Services) -> int:
    """Deliver the sandbox providers' seeded orders the way each provider does: a signed webhook
    from the sandbox to this service's `/webhooks/{connection_id}` (in process), verified and
    recorded like any other. The same target stays set, so an order created later through a
    sandbox's control endpoint arrives the same way. Redelivering a seed is deduplicated, so a
    restart on the same store keeps the orders as they are.

    StackOne's events carry no status: the results the StackOne sandbox already holds for its
    seeded orders (written before this run) set the status of orders still on record as new.
    Returns how many seeded webhooks the service accepted (one per order).
    """
    boxes, ctx = services.sandboxes, services.context
    assert boxes is not None
    receiver = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=Starlette(routes=webhook_routes(lambda: ctx, services.metrics))),
        base_url="http://gateway.internal",
    )
    services.clients.append(receiver)
    for connection in services.settings.connections:
        box = boxes.for_provider(connection.provider)
        if box.webhook_target is None:  # the first connection of each provider receives its sandbox's orders
            box.webhook_target = WebhookTarget(receiver, f"http://gateway.internal/webhooks/{connection.id}")
    statuses = await deliver_all(boxes)
    refused = [s for codes in statuses.values() for s in codes if s != 200]
    if refused:
        log.warning("%d seeded webhook(s) refused: %s", len(refused), sorted(set(refused)))
    await settle_background(ctx)
    await _stackone_seed_statuses(services)
    return sum(len(codes) for codes in statuses.values()) - len(refused)


async def _stackone_seed_statuses(services: Services) -> None:
    boxes = services.sandboxes
    assert boxes is not None
    for connection in services.settings.connections:
        if connection.provider is not ProviderName.STACKONE:
            continue
        refs = {OrderRef(connection.id, oid): result for oid, result in boxes.stackone.results.items()}
        stored = await services.store.get_orders(list(refs))
        for ref, order in stored.items():
            if isinstance(order, AssessmentOrder) and order.provider_status is None:
                status = order_from_stackone(connection.id, order.raw, refs[ref])
                await services.store.upsert_order(
                    order.model_copy(update={"status": status.status, "provider_status": status.provider_status})
                )


def _sqlite_file(url: str) -> Path | None:
    prefix = "sqlite+aiosqlite:///"
    if url.startswith(prefix) and url[len(prefix) :] not in ("", ":memory:"):
        return Path(url[len(prefix) :].partition("?")[0])
    return None


def _ensure_sqlite_dir(url: str) -> None:
    path = _sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def sandbox_state_path(database_url: str) -> Path | None:
    """Where the sandbox providers keep their state across restarts: beside the SQLite file
    (`data/gateway.db` -> `data/gateway.sandbox.json`); None (memory only) on PostgreSQL or in memory."""
    path = _sqlite_file(database_url)
    return path.with_name(f"{path.stem}.sandbox.json") if path is not None else None


def create_app(services: Services | None = None, settings: Settings | None = None, *, traced: bool = False) -> Starlette:
    """The Starlette app. Given `services`, it uses them as they are (tests drive it without a
    lifespan); otherwise the lifespan builds them from `settings` (default: the environment)
    and closes them at shutdown. Sandbox providers are also served under `/sandbox`. `traced`:
    spans for HTTP requests and GraphQL operations (tracing configured by server/tracing.py)."""
    holder: dict[str, Services] = {}
    if services is not None:
        holder["services"] = services
        sandboxes = services.sandboxes
        metrics = services.metrics
    else:
        settings = settings or load_settings()
        sandboxes = create_sandboxes(state_path=sandbox_state_path(settings.database_url)) if settings.sandbox else None
        metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if services is not None:
            yield
            return
        assert settings is not None
        built = await build_services(settings, sandboxes=sandboxes, metrics=metrics, traced=traced)
        holder["services"] = built
        _announce(built)
        poller = Poller(built.context)
        await poller.start()
        deliverer = Deliverer(built.context)
        await deliverer.start()
        try:
            yield
        finally:
            live.closing.set()  # subscriptions end first, with their protocol's close codes
            await deliverer.stop()
            await poller.stop()
            await built.aclose()

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    edge_settings = services.settings if services is not None else settings
    assert edge_settings is not None
    schema = build_schema([tracing.graphql_extension()] if traced else [],
                          security_directives=edge_settings.federation.security_directives)
    edge = Edge(edge_settings, schema, lambda: holder["services"].store)
    explorer = Explorer(lambda: holder["services"].store, open_access=edge.authenticator.open)
    view = GraphQLView(schema, lambda: holder["services"].context, edge, explorer.page)
    live = Subscriptions(schema, edge, lambda: holder["services"].context, edge_settings.events, coded_error)
    view.live = live
    routes = [  # (Starlette tries them in order: the busiest first)
        Route("/graphql", view, methods=["GET", "POST"]),
        Route("/", lambda request: RedirectResponse("/graphql")),
        Route("/health", health),
        Route("/ready", ready_route(lambda: holder["services"].context)),
        Route("/metrics", metrics_endpoint(metrics, edge_settings.metrics, lambda: holder["services"].context)),
        *(explorer.routes() if edge.graphiql else []),
        WebSocketRoute("/graphql", websocket_endpoint(lambda: live, view.admit_payload)),
        *webhook_routes(lambda: holder["services"].context, metrics),
    ]
    if sandboxes is not None and edge_settings.environment != "production":
        routes.append(Mount(SANDBOX_MOUNT, app=create_sandbox_app(sandboxes)))
    middleware = [Middleware(RequestMiddleware, metrics=metrics)]
    if traced:
        middleware.insert(0, Middleware(tracing.traced_asgi_middleware()))
    starlette = Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
    starlette.state.live = live  # `main` ends subscriptions as soon as a shutdown signal arrives
    return starlette


def sandbox_routes(sandboxes: Sandboxes) -> list[str]:
    """Every path served under SANDBOX_MOUNT, without authentication (development only)."""
    paths: list[str] = []
    for mount in create_sandbox_app(sandboxes).routes:
        if isinstance(mount, Mount):
            paths += [f"{SANDBOX_MOUNT}{mount.path}{route.path}" for route in mount.routes if isinstance(route, Route)]
    return list(dict.fromkeys(paths))


def _announce(services: Services) -> None:
    mode = "sandbox providers (no real provider is called)" if services.settings.sandbox else "real providers"
    log.info(
        "serving %d connection(s) on %s; store %s",
        len(services.settings.connections), mode, services.settings.database_url.split("@")[-1],
    )  # fmt: skip
    if not services.settings.clients:
        how = "sandbox mode" if services.settings.sandbox else "[auth] anonymous = true"
        log.warning("no clients configured: /graphql is OPEN to anyone (%s)", how)
    if services.sandboxes is not None and services.settings.environment != "production":
        log.warning("sandbox routes open without authentication: %s", ", ".join(sandbox_routes(services.sandboxes)))


def main(argv: list[str] | None = None) -> int:

    args = parser().parse_args(argv)
    if args.check_config:
        return check_config()
    traced = bool(tracing.exporters_from(os.environ))
    configure_logging(args.log_format, args.log_level, tracing=traced)
    try:
        settings = load_settings()
        problems = tracing.tracing_problems()
        if problems:
            raise SettingsError(problems)
    except SettingsError as exc:
        log.error("%s", exc, extra={"problems": exc.problems})
        return 2
    tracing.configure_tracing()
    app = create_app(settings=settings, traced=traced)
    # What is built by now (modules, the schema, settings) lives as long as the process: the cyclic
    # collector need not walk it again on each full collection (a pause of ~0.1 s every few thousand requests).
    gc.collect()
    gc.freeze()
    log.info("GraphiQL: http://%s:%d/graphql", args.host, args.port)
    started = serve(app, app.state.live.closing.set, host=args.host, port=args.port, log_level=args.log_level,
                    log_config=None, access_log=False)  # fmt: skip
    return 0 if started else 3  # uvicorn's STARTUP_FAILURE


if __name__ == "__main__":
    sys.exit(main())
