"""Edge fixtures: the service built with clients, environments and limits, and an HTTP client per caller."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from app import Services, build_services, create_app
from sandbox import Sandboxes
from server.clients import ClientConfig, hash_api_key
from server.settings import Settings, sandbox_settings

JWT_SECRET = "test-hs256-secret-of-at-least-32-bytes!"
READ_WRITE = ("orders:read", "results:write")
# Clients of the edge tests: keys are "<name>-key".
CLIENTS = (
    ClientConfig(name="dashboard", api_key_sha256=(hash_api_key("dashboard-key"),), jwt_subjects=("dashboard-app",),
                 scopes=READ_WRITE, connections=("*",)),
    ClientConfig(name="kombo-only", api_key_sha256=(hash_api_key("kombo-only-key"),), scopes=READ_WRITE,
                 connections=("sandbox-kombo",)),
    ClientConfig(name="reader", api_key_sha256=(hash_api_key("reader-key"),), scopes=("orders:read",),
                 connections=("*",)),
    ClientConfig(name="gateway", api_key_sha256=(hash_api_key("gateway-key"),), scopes=READ_WRITE,
                 connections=("*",), gateway=True),
)  # fmt: skip
ORDERS = "{ assessmentOrders(first: 100) { totalCount edges { node { id provider connection { id } } } } }"


def edge_settings(tmp_path: Path, **changes: Any) -> Settings:
    """The sandbox settings with edge settings changed (clients, environment, limits, ...)."""
    return sandbox_settings(f"sqlite+aiosqlite:///{tmp_path / 'edge.db'}").model_copy(update=changes)


def hs256(sub: str, *, expires_in: float = 300, **claims: Any) -> str:
    return jwt.encode({"sub": sub, "exp": int(time.time() + expires_in), **claims}, JWT_SECRET, algorithm="HS256")


class Caller:
    """Posts to /graphql as one caller (headers), returning the whole response."""

    def __init__(self, http: httpx.AsyncClient, headers: dict[str, str] | None = None) -> None:
        self.http, self.headers = http, headers or {}

    def as_(self, **headers: str) -> Caller:
        return Caller(self.http, {k.replace("_", "-"): v for k, v in headers.items()})

    async def post(self, body: dict[str, Any], **headers: str) -> httpx.Response:
        return await self.http.post("/graphql", json=body, headers={**self.headers, **headers})

    async def get(self, params: dict[str, str], **headers: str) -> httpx.Response:
        return await self.http.get("/graphql", params=params, headers={"apollo-require-preflight": "1",
                                                                        **self.headers, **headers})  # fmt: skip

    async def query(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = (await self.post({"query": query, "variables": variables or {}})).json()
        return body


Build = Callable[..., Awaitable[tuple[Services, Caller]]]


@pytest.fixture
async def build(tmp_path: Path, sandboxes: Sandboxes) -> AsyncIterator[Build]:
    """`await build(clients=..., environment=...)`: the service with those settings, and an anonymous caller."""
    opened: list[tuple[Services, httpx.AsyncClient]] = []

    async def make(**changes: Any) -> tuple[Services, Caller]:
        services = await build_services(edge_settings(tmp_path, **changes), sandboxes=sandboxes, seed=not opened)
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(services)), base_url="http://gw.test")
        opened.append((services, http))
        return services, Caller(http)

    yield make
    for services, http in opened:
        await http.aclose()
        await services.aclose()


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]
