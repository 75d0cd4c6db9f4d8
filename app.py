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

from providers.connections import Connection
from providers.kombo.client import KomboProvider
from providers.models import AssessmentOrder, ProviderName
from providers.protocol import AssessmentProvider
from providers.registry import build_provider, http_client
from providers.stackone.mapping import order_from_stackone
from providers.unified_to.mapping import order_from_unified_to
from resolvers.context import AppContext
from resolvers.intake import record_received_orders
from sandbox import Sandboxes, create_sandbox_app, create_sandboxes
from schema.root import build_schema
from server.graphql import GraphQLView
from server.poller import Poller
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
    context = AppContext(store=store, connections=connections, adapters=adapters)
    services = Services(settings, store, context, sandboxes, clients)
    if sandboxes is not None and seed:
        await seed_from_sandboxes(services)
    return services


async def seed_from_sandboxes(services: Services) -> int:
    """Record the sandbox providers' orders the way each provider delivers them.

    Kombo is read through its real list endpoint; StackOne and Unified.to only push orders,
    so their sandbox records go through the same translation their webhooks use.
    Orders already on record are kept as they are.
    """
    assert services.sandboxes is not None
    boxes, orders = services.sandboxes, []
    for connection in services.settings.connections:
        orders += await _sandbox_orders(connection, boxes, services.context.adapters[connection.id])
    return await record_received_orders(services.context, orders, replace=False)


async def _sandbox_orders(
    connection: Connection, boxes: Sandboxes, adapter: AssessmentProvider
) -> list[AssessmentOrder]:
    if connection.provider is ProviderName.KOMBO:
        assert isinstance(adapter, KomboProvider)
        found, cursor = [], None
        while True:
            page, cursor = await adapter.list_orders(cursor=cursor)
            found += page
            if not cursor:
                return found
    if connection.provider is ProviderName.STACKONE:
        box = boxes.stackone
        return [
            order_from_stackone(connection.id, raw, box.results.get(order_id))
            for order_id, raw in box.orders.items()
        ]
    return [order_from_unified_to(connection.id, raw) for raw in boxes.unified_to.orders.values()]


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
        try:
            yield
        finally:
            await poller.stop()
            await built.aclose()

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    view = GraphQLView(build_schema(), lambda: holder["services"].context)
    routes = [
        Route("/", lambda request: RedirectResponse("/graphql")),
        Route("/health", health),
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
