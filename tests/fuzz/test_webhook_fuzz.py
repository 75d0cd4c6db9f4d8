"""Property-based fuzzing of POST /webhooks/{connection_id} for every provider.

Random bodies and headers, provider-shaped events with hostile values, and validly signed random
bodies (the test knows the secrets). Properties: never a 5xx, never an error logged with a traceback,
and afterwards every tenant's orders (with their results) still read without error.

The seed is fixed (derandomized). `FUZZ_PROFILE=long` runs many more examples per provider.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import Services, build_services, create_app
from resolvers.intake import settle_background
from sandbox import create_sandboxes
from server.settings import sandbox_settings

KOMBO, STACKONE, UNIFIED = "sandbox-kombo", "sandbox-stackone", "sandbox-unified-to"
PROFILES = {"ci": 60, "long": 2_000}
EXAMPLES = PROFILES[os.environ.get("FUZZ_PROFILE", "ci")]
LIST = """
query($filter: AssessmentOrderFilter, $after: String) {
  assessmentOrders(filter: $filter, first: 100, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node {
      id provider providerOrderId status providerStatus createdAt updatedAt providerData
      connection { id } package { id name } application { remoteId }
      candidate { remoteId firstName lastName name emails phones profileUrl resumeUrl }
      job { remoteId title code description location }
      result { id status summary passthrough submittedAt delivery { state } }
    } }
  }
}
"""

# --------------------------------------------------------------------------- strategies

HOSTILE_TEXT = ["", "\ud800", "\x00", "a" * 5000, "2026-11-01T08:00:00Z", "0001-01-01T00:00:00+14:00",
                "9999-12-31T23:59:59-14:00", "not-a-date", "OPEN", "COMPLETED", "\u202e", "../../etc"]  # fmt: skip
text = st.one_of(st.text(max_size=30), st.sampled_from(HOSTILE_TEXT))
numbers = st.one_of(st.integers(), st.floats(), st.sampled_from([10**400, -(10**30), 1e308]))
scalars = st.one_of(st.none(), st.booleans(), numbers, text)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4), max_leaves=20
)


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


deep = st.integers(1, 200).map(nested)
deep_raw = st.integers(1, 200_000).map(lambda n: b"[" * n + b"]" * n)


def mostly(right: st.SearchStrategy[Any], *others: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`right` about four times in five, else one of `others`."""
    return st.integers(0, 9).flatmap(lambda i: right if i < 8 else st.one_of(*others))


def maybe(value: Any) -> st.SearchStrategy[Any]:
    """The right value (mostly), or a hostile one."""
    return mostly(st.just(value), json_values, deep)


def person() -> st.SearchStrategy[Any]:
    return st.one_of(json_values, st.fixed_dictionaries({}, optional={
        "id": maybe("cand-1"), "remote_id": maybe("c-1"), "first_name": text, "last_name": text, "name": text,
        "email": maybe("ada@example.com"), "emails": maybe([{"type": "work", "value": "ada@example.com"}]),
    }))  # fmt: skip


def kombo_body() -> st.SearchStrategy[Any]:
    order = st.fixed_dictionaries({"id": maybe("GRKdd9")}, optional={
        "package_id": maybe("typescript-senior"), "status": maybe("OPEN"), "integration_id": maybe("greenhouse:sandbox1"),
        "candidate": person(), "application": maybe({"remote_id": "a-1"}), "job": maybe({"remote_id": "j", "name": "x"}),
        "created_at": maybe("2026-11-01T08:00:00Z"), "extra": json_values,
    })  # fmt: skip
    event_type = st.sampled_from(["assessment:order-received", "inline-assessment:order-received", "data-changed"])
    return st.fixed_dictionaries({"id": maybe("evt-1"), "type": mostly(event_type, text),
                                 "data": mostly(order, json_values)})


def stackone_body() -> st.SearchStrategy[Any]:
    order = st.fixed_dictionaries({}, optional={
        "id": maybe("so-order-1"), "package": maybe({"id": "typescript-senior"}), "candidate": person(),
        "application": maybe({"id": "app-1"}), "job": maybe({"id": "job-1", "title": "Analyst"}), "extra": json_values,
    })  # fmt: skip
    event = st.sampled_from(["ats_assessments.created", "ats_assessments.updated", "ats_assessments.deleted"])
    return st.fixed_dictionaries({"event": mostly(event, text), "event_data": mostly(order, json_values)}, optional={
        "id": maybe("evt-s-1"), "account_id": maybe("sandbox-account-1"), "record_id": maybe("so-order-1"),
    })  # fmt: skip


def unified_body(connection_id: str, workspace_id: str) -> st.SearchStrategy[Any]:
    order = st.fixed_dictionaries({"id": maybe("un-order-1")}, optional={
        "connection_id": maybe(connection_id), "workspace_id": maybe(workspace_id), "status": maybe("OPEN"),
        "package_id": maybe("typescript-senior"), "profile_emails": maybe(["alan@example.com"]),
        "profile_name": text, "created_at": maybe("2026-11-01T08:00:00Z"), "updated_at": maybe("2026-11-01T08:00:00Z"),
        "response_score": numbers, "extra": json_values,
    })  # fmt: skip
    webhook = st.fixed_dictionaries({"object_type": maybe("assessment_order"),
                                     "event": mostly(st.sampled_from(["created", "updated", "deleted"]), text)})  # fmt: skip
    return st.fixed_dictionaries({"data": mostly(st.lists(order, min_size=1, max_size=3), json_values),
                                  "webhook": mostly(webhook, json_values),
                                  "nonce": text})  # fmt: skip


printable = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
content_types = mostly(
    st.just("application/json"), st.sampled_from(["application/json; charset=utf-8", "text/plain", "", "json;;"])
)


# --------------------------------------------------------------------------- signing (independent of the service)


def serialise(body: Any, ascii_only: bool) -> bytes:
    return json.dumps(body, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def hmac_b64(secret: str, message: bytes, algorithm: Any, url: bool) -> str:
    digest = hmac.new(secret.encode(), message, algorithm).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=") if url else base64.b64encode(digest).decode()


def unified_sign(body: Any, secret: str) -> Any:
    if not isinstance(body, dict) or "data" not in body or not isinstance(body.get("nonce"), str):
        return body
    message = (json.dumps(body["data"], separators=(",", ":"), ensure_ascii=False) + body["nonce"])
    return {**body, "sig": hmac_b64(secret, message.encode("utf-8", "surrogatepass"), hashlib.sha1, url=False)}


# --------------------------------------------------------------------------- the service under fuzz


class Errors(logging.Handler):
    """Collects every record logged at ERROR or with a traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)


class Target:
    def __init__(self, services: Services, http: httpx.AsyncClient) -> None:
        self.services, self.http = services, http

    def secret(self, connection_id: str) -> str:
        return self.services.context.connections[connection_id].webhook_secret or ""

    async def post(self, connection_id: str, raw: bytes, headers: dict[str, str]) -> httpx.Response:
        response = await self.http.post(f"/webhooks/{connection_id}", content=raw, headers=headers)
        await settle_background(self.services.context)
        return response

    async def assert_readable(self, connection_id: str) -> None:
        after: str | None = None
        while True:
            variables = {"filter": {"connectionIds": [connection_id]}, "after": after}
            answer = (await self.http.post("/graphql", json={"query": LIST, "variables": variables})).json()
            assert "errors" not in answer, answer["errors"]
            page = answer["data"]["assessmentOrders"]
            if not page["pageInfo"]["hasNextPage"]:
                return
            after = page["pageInfo"]["endCursor"]


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as run:
        yield run


@pytest.fixture
def target(runner: asyncio.Runner, tmp_path: Path) -> Iterator[Target]:
    async def build() -> Target:
        settings_ = sandbox_settings(f"sqlite+aiosqlite:///{tmp_path / 'fuzz.db'}")
        services = await build_services(settings_, sandboxes=create_sandboxes(), seed=True)
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(services)), base_url="http://fuzz")
        return Target(services, http)

    built = runner.run(build())
    yield built

    async def close() -> None:
        await settle_background(built.services.context, cancel=True)
        await built.http.aclose()
        await built.services.aclose()

    runner.run(close())


@pytest.fixture
def errors() -> Iterator[Errors]:
    handler = Errors()
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)


FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip


def shaped(connection_id: str, target: Target) -> st.SearchStrategy[Any]:
    if connection_id == KOMBO:
        return kombo_body()
    if connection_id == STACKONE:
        return stackone_body()
    connection = target.services.context.connections[UNIFIED]
    return unified_body(connection.connection_id or "", connection.workspace_id or "")


@pytest.mark.parametrize("connection_id", [KOMBO, STACKONE, UNIFIED])
def test_webhooks_survive_hostile_deliveries(
    connection_id: str, runner: asyncio.Runner, target: Target, errors: Errors
) -> None:
    secret = target.secret(connection_id)
    header = "x-kombo-signature" if connection_id == KOMBO else "x-stackone-signature"
    bodies = mostly(shaped(connection_id, target), json_values, deep)
    seen: set[int] = set()

    @FUZZ
    @given(body=bodies, raw_bytes=mostly(st.none(), st.binary(max_size=300), deep_raw), ascii_only=st.booleans(),
           signing=mostly(st.just("valid"), st.sampled_from(["none", "garbage"])), garbage=printable, content_type=content_types,
           extra=st.dictionaries(st.sampled_from(["x-kombo-signature", "x-stackone-signature", "x-other"]), printable))  # fmt: skip
    def one_delivery(body: Any, raw_bytes: bytes | None, ascii_only: bool, signing: str, garbage: str,
                     content_type: str, extra: dict[str, str]) -> None:  # fmt: skip
        if connection_id == UNIFIED and signing == "valid":
            body = unified_sign(body, secret)
        raw = raw_bytes if raw_bytes is not None else serialise(body, ascii_only)
        headers = {**extra, "content-type": content_type}
        if signing == "valid" and connection_id != UNIFIED:
            headers[header] = hmac_b64(secret, raw, hashlib.sha256, url=True)
        elif signing == "garbage":
            headers[header] = garbage
        response = runner.run(target.post(connection_id, raw, headers))
        seen.add(response.status_code)
        # never a 5xx, always a coded JSON answer, nothing logged as an error
        assert response.status_code < 500, response.text
        answer = response.json()
        assert ("error" in answer) != (response.status_code == 200)
        assert errors.records == [], [r.getMessage() for r in errors.records]
        if response.status_code == 200:
            runner.run(target.assert_readable(connection_id))

    one_delivery()
    # the generator reached both sides: deliveries recorded and deliveries refused
    assert 200 in seen and {401, 400} <= seen, seen
    # afterwards every tenant's orders still read
    for tenant in (KOMBO, STACKONE, UNIFIED):
        runner.run(target.assert_readable(tenant))
