"""Composition root: read settings, build store, sandbox, adapters, schema and the Starlette app.

`python app.py [--host H] [--port P]` serves it. Importing this module has no side effects.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Mount, Route

from providers.models import OrderRef, ProviderName
from providers.protocol import AssessmentProvider
from providers.registry import build_provider, http_client
from providers.stackone.mapping import order_from_stackone
from resolvers.context import AppContext
from resolvers.dispatch import Dispatch
from resolvers.intake import settle_background
from sandbox import Sandboxes, WebhookTarget, create_sandbox_app, create_sandboxes, deliver_all
from schema.root import build_schema
from server.deliverer import Deliverer, drain
from server.edge import Edge
from server.graphql import GraphQLView
from server.persisted import load_configured_documents
from server.poller import Poller
from server.ready import ready_route
from server.settings import Settings, SettingsError, load_settings
from server.webhooks import webhook_routes
from store import Store, create_store

log = logging.getLogger("gateway")


@dataclass
class Services:
    """Everything the running service holds; closed together."""

    settings: Settings
    store: Store
    context: AppContext
    sandboxes: Sandboxes | None = None
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    async def aclose(self) -> None:
        await drain(self.context)  # attempts in flight finish (or are given back) first
        for client in self.clients:
            await client.aclose()
        await self.store.close()


async def build_services(
    settings: Settings,
    *,
    store: Store | None = None,
    sandboxes: Sandboxes | None = None,
    seed: bool = True,
) -> Services:
    """Build and start the service's parts; with sandbox connections, seed the order record."""
    if store is None:
        _ensure_sqlite_dir(settings.database_url)
        store = create_store(settings.database_url)
    await store.migrate()
    await load_configured_documents(settings.persisted_documents, store)
    if settings.sandbox and sandboxes is None:
        sandboxes = create_sandboxes()
    sandbox_transport = (
        httpx.ASGITransport(app=create_sandbox_app(sandboxes)) if sandboxes is not None else None
    )
    clients: list[httpx.AsyncClient] = []
    adapters: dict[str, AssessmentProvider] = {}
    for connection in settings.connections:
        client = http_client(connection, sandbox_transport if connection.sandbox else None)
        clients.append(client)
        adapters[connection.id] = build_provider(connection, client)
    connections = {c.id: c for c in settings.connections}
    context = AppContext(
        store=store, connections=connections, adapters=adapters, dispatch=Dispatch(policy=settings.delivery)
    )
    services = Services(settings, store, context, sandboxes, clients)
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
        transport=httpx.ASGITransport(app=Starlette(routes=webhook_routes(lambda: ctx))),
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
            if order.provider_status is None:
                status = order_from_stackone(connection.id, order.raw, refs[ref])
                await services.store.upsert_order(
                    order.model_copy(update={"status": status.status, "provider_status": status.provider_status})
                )


def _ensure_sqlite_dir(url: str) -> None:
    prefix = "sqlite+aiosqlite:///"
    if url.startswith(prefix) and url[len(prefix) :] not in ("", ":memory:"):
        Path(url[len(prefix) :]).parent.mkdir(parents=True, exist_ok=True)


def create_app(services: Services | None = None, settings: Settings | None = None) -> Starlette:
    """The Starlette app. Given `services`, it uses them as they are (tests drive it without a
    lifespan); otherwise the lifespan builds them from `settings` (default: the environment)
    and closes them at shutdown. Sandbox providers are also served under `/sandbox`."""
    holder: dict[str, Services] = {}
    if services is not None:
        holder["services"] = services
        sandboxes = services.sandboxes
    else:
        settings = settings or load_settings()
        sandboxes = create_sandboxes() if settings.sandbox else None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if services is not None:
            yield
            return
        assert settings is not None
        built = await build_services(settings, sandboxes=sandboxes)
        holder["services"] = built
        _announce(built)
        poller = Poller(built.context)
        await poller.start()
        deliverer = Deliverer(built.context)
        await deliverer.start()
        try:
            yield
        finally:
            await deliverer.stop()
            await poller.stop()
            await built.aclose()

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    edge_settings = services.settings if services is not None else settings
    assert edge_settings is not None
    schema = build_schema()
    edge = Edge(edge_settings, schema, lambda: holder["services"].store)
    view = GraphQLView(schema, lambda: holder["services"].context, edge)
    routes = [
        Route("/", lambda request: RedirectResponse("/graphql")),
        Route("/health", health),
        Route("/ready", ready_route(lambda: holder["services"].context)),
        Route("/graphql", view, methods=["GET", "POST"]),
        *webhook_routes(lambda: holder["services"].context),
    ]
    if sandboxes is not None:
        routes.append(Mount("/sandbox", app=create_sandbox_app(sandboxes)))
    return Starlette(routes=routes, lifespan=lifespan)


def _announce(services: Services) -> None:
    mode = "sandbox providers (no real provider is called)" if services.settings.sandbox else "real providers"
    log.info(
        "serving %d connection(s) on %s; store %s",
        len(services.settings.connections), mode, services.settings.database_url.split("@")[-1],
    )  # fmt: skip
    if not services.settings.clients:
        how = "sandbox mode" if services.settings.sandbox else "[auth] anonymous = true"
        log.warning("no clients configured: /graphql is OPEN to anyone (%s)", how)


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(description="Assessment-result GraphQL gateway")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    app = create_app(settings=settings)
    print(f"GraphiQL: http://{args.host}:{args.port}/graphql", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
