"""Shared fixtures: sandbox providers, the service built around them, a GraphQL client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import Services, build_services, create_app
from sandbox import Sandboxes, create_sandboxes
from sandbox._common import RecordedRequest
from server.settings import sandbox_settings
from tests.spec_check import assert_request_matches_spec

FIXED_NOW = datetime(2026, 11, 2, 9, 30, 0, 125000, tzinfo=UTC)


@pytest.fixture
def sandboxes() -> Iterator[Sandboxes]:
    """Fresh sandbox providers; every request they received is checked against the provider's
    OpenAPI file when the test ends."""
    boxes = create_sandboxes()
    yield boxes
    for name, box in (("stackone", boxes.stackone), ("kombo", boxes.kombo), ("unified_to", boxes.unified_to)):
        for received in box.received:
            assert_request_matches_spec(name, as_httpx_request(received))


def as_httpx_request(received: RecordedRequest) -> httpx.Request:
    mount = received.path.split("/", 2)[1]  # /kombo/v1/... was served under the /kombo mount
    url = httpx.URL(f"http://sandbox{received.path.removeprefix('/' + mount)}",
                    params=[(k, v) for k, values in received.query.items() for v in values])  # fmt: skip
    return httpx.Request(received.method, url, headers=received.headers, content=received.raw_body)


@pytest.fixture
async def services(tmp_path: Path, sandboxes: Sandboxes) -> AsyncIterator[Services]:
    settings = sandbox_settings(f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}")
    built = await build_services(settings, sandboxes=sandboxes)
    built.context.clock = lambda: FIXED_NOW
    yield built
    await built.aclose()


class GraphQLClient:
    """Posts GraphQL operations to the app under test and returns the decoded JSON."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def __call__(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.http.post("/graphql", json={"query": query, "variables": variables or {}})
        assert response.status_code in (200, 400), response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
async def gql(services: Services) -> AsyncIterator[GraphQLClient]:
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
        yield GraphQLClient(http)
