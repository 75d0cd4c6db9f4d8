"""Clients over HTTP: API keys and JWTs (HS256, RS256 by JWKS file and URL), scopes, connection tenancy."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from app import _announce
from providers.errors import ErrorCode
from providers.models import OrderRef
from server.clients import AuthSettings
from server.settings import SettingsError, parse_settings
from tests.server.conftest import CLIENTS, JWT_SECRET, ORDERS, Build, Caller, codes, hs256

ONE = "query($id: ID!) { assessmentOrder(id: $id) { id } }"
ENTITIES = "query($r: [_Any!]!) { _entities(representations: $r) { ... on AssessmentOrder { id } } }"
WRITE = """mutation($input: UpdateAssessmentResultInput!) {
  updateAssessmentResult(input: $input) { order { id } }
}"""
UNAUTHENTICATED = {"errors": [{"message": "Authentication failed.", "extensions": {"code": "UNAUTHENTICATED"}}]}


async def orders_by_connection(caller: Caller) -> dict[str, list[str]]:
    body = await caller.query(ORDERS)
    found: dict[str, list[str]] = {}
    for edge in body["data"]["assessmentOrders"]["edges"]:
        found.setdefault(edge["node"]["connection"]["id"], []).append(edge["node"]["id"])
    return found


async def test_api_key_clients_and_every_way_of_failing_look_the_same(build: Build) -> None:
    # given clients configured with hashed API keys
    _, anonymous = await build(clients=CLIENTS)
    # a known key is served
    assert "errors" not in await anonymous.as_(x_api_key="dashboard-key").query(ORDERS)
    # no credentials, a wrong key, a malformed header, a bad token: the same 401, nothing more
    for caller in (anonymous, anonymous.as_(x_api_key="wrong"), anonymous.as_(authorization="Basic x"),
                   anonymous.as_(authorization="Bearer not-a-jwt")):  # fmt: skip
        response = await caller.post({"query": ORDERS})
        assert (response.status_code, response.json()) == (401, UNAUTHENTICATED)
        assert response.headers["www-authenticate"] == "Bearer"


async def test_hs256_tokens_expired_forged_or_unknown_are_refused(build: Build) -> None:
    _, anonymous = await build(clients=CLIENTS, auth=AuthSettings(jwt_hs256_secret=JWT_SECRET))
    good = anonymous.as_(authorization=f"Bearer {hs256('dashboard-app')}")
    assert "errors" not in await good.query(ORDERS)
    forged = jwt.encode({"sub": "dashboard-app", "exp": 2_000_000_000}, "another-secret-of-32-bytes-at-least!",
                        algorithm="HS256")  # fmt: skip
    for token in (hs256("dashboard-app", expires_in=-60), forged, hs256("nobody"),
                  jwt.encode({"sub": "dashboard-app"}, JWT_SECRET, algorithm="HS256")):  # fmt: skip
        response = await anonymous.as_(authorization=f"Bearer {token}").post({"query": ORDERS})
        assert (response.status_code, response.json()) == (401, UNAUTHENTICATED)


def rsa_jwks() -> tuple[Any, dict[str, Any]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return key, {"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]}


@pytest.fixture
def jwks_server() -> Iterator[tuple[Any, str]]:
    """A JWKS document served over loopback HTTP."""
    key, document = rsa_jwks()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = json.dumps(document).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield key, f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


def rs256(key: Any, sub: str, **claims: Any) -> str:
    return jwt.encode({"sub": sub, "exp": 2_000_000_000, **claims}, key, algorithm="RS256", headers={"kid": "k1"})


async def test_rs256_tokens_verified_by_jwks_file_and_url(
    build: Build, tmp_path: Path, jwks_server: tuple[Any, str]
) -> None:
    # given the same issuer's keys in a file, and served by URL
    key, url = jwks_server
    file_key, document = rsa_jwks()
    (tmp_path / "jwks.json").write_text(json.dumps(document))
    settings = {"issuer": "https://idp.test/", "aud": "gateway"}
    _, by_file = await build(clients=CLIENTS, auth=AuthSettings(
        jwt_jwks_file=str(tmp_path / "jwks.json"), jwt_issuer=settings["issuer"], jwt_audience="gateway"))
    _, by_url = await build(clients=CLIENTS, auth=AuthSettings(
        jwt_jwks_url=url, jwt_issuer=settings["issuer"], jwt_audience="gateway"))  # fmt: skip
    claims = {"iss": "https://idp.test/", "aud": "gateway"}
    # then tokens signed by the right key, issuer and audience are served
    assert "errors" not in await by_file.as_(authorization=f"Bearer {rs256(file_key, 'dashboard-app', **claims)}").query(ORDERS)
    assert "errors" not in await by_url.as_(authorization=f"Bearer {rs256(key, 'dashboard-app', **claims)}").query(ORDERS)
    # and another key, issuer or audience is not
    for caller, token in ((by_file, rs256(key, "dashboard-app", **claims)),
                          (by_url, rs256(key, "dashboard-app", iss="https://evil.test/", aud="gateway")),
                          (by_url, rs256(key, "dashboard-app", iss="https://idp.test/", aud="other"))):  # fmt: skip
        response = await caller.as_(authorization=f"Bearer {token}").post({"query": ORDERS})
        assert (response.status_code, response.json()) == (401, UNAUTHENTICATED)


async def test_missing_scope_is_forbidden_including_a_token_narrower_than_its_client(build: Build) -> None:
    _, anonymous = await build(clients=CLIENTS, auth=AuthSettings(jwt_hs256_secret=JWT_SECRET))
    order = (await orders_by_connection(anonymous.as_(x_api_key="dashboard-key")))["sandbox-kombo"][0]
    write = {"query": WRITE, "variables": {"input": {"orderId": order, "status": "COMPLETED"}}}
    for caller in (anonymous.as_(x_api_key="reader-key"),
                   anonymous.as_(authorization=f"Bearer {hs256('dashboard-app', scope='orders:read')}")):  # fmt: skip
        response = await caller.post(write)
        assert (response.status_code, response.json()) == (
            403, {"errors": [{"message": "Not allowed.", "extensions": {"code": "FORBIDDEN"}}]}
        )
        assert "errors" not in await caller.query(ORDERS)  # reading is granted


async def test_another_tenants_order_is_not_found_like_a_missing_one(build: Build) -> None:
    # given a client granted the Kombo connection only
    _, anonymous = await build(clients=CLIENTS)
    everything = await orders_by_connection(anonymous.as_(x_api_key="dashboard-key"))
    kombo_only = anonymous.as_(x_api_key="kombo-only-key")
    foreign = everything["sandbox-stackone"][0]
    missing = OrderRef("sandbox-stackone", "no-such-order").encode()
    # by list: only its connection's orders, and a filter asking for others gets nothing
    listed = await orders_by_connection(kombo_only)
    assert listed == {"sandbox-kombo": everything["sandbox-kombo"]}
    asked = await kombo_only.query("{ assessmentOrders(filter: {connectionIds: [\"sandbox-stackone\"]}) { totalCount } }")
    assert asked == {"data": {"assessmentOrders": {"totalCount": 0}}}
    # by id, by _entities, by mutation: exactly what a missing order gives
    for query, variables in (
        (ONE, lambda i: {"id": i}),
        (ENTITIES, lambda i: {"r": [{"__typename": "AssessmentOrder", "id": i}]}),
        (WRITE, lambda i: {"input": {"orderId": i, "status": "COMPLETED"}}),
    ):
        seen = await kombo_only.query(query, variables(foreign))
        assert seen == await kombo_only.query(query, variables(missing))
        assert seen.get("errors") is None or codes(seen) == [ErrorCode.NOT_FOUND]
    # while its own orders are there
    own = everything["sandbox-kombo"][0]
    assert (await kombo_only.query(ONE, {"id": own}))["data"]["assessmentOrder"] == {"id": own}


REAL = {"connections": [{"id": "acme-kombo", "provider": "KOMBO", "base_url": "https://api.kombo.dev/v1",
                         "api_key": "k", "integration_id": "workday:x"}]}  # fmt: skip


def test_real_connections_without_clients_refuse_to_start_unless_anonymous_is_explicit() -> None:
    with pytest.raises(SettingsError) as refused:
        parse_settings(REAL, {})
    assert any("no [[clients]] configured" in p for p in refused.value.problems)
    assert parse_settings({**REAL, "auth": {"anonymous": True}}, {}).auth.anonymous
    client = {"name": "c", "api_key_sha256": ["0" * 64], "scopes": ["orders:read"], "connections": ["acme-kombo"]}
    assert parse_settings({**REAL, "clients": [client]}, {}).clients[0].name == "c"
    bad = {"name": "c", "api_key_sha256": ["short"], "scopes": ["orders:delete"], "connections": ["elsewhere"]}
    with pytest.raises(SettingsError) as problems:
        parse_settings({**REAL, "clients": [bad]}, {})
    assert len(problems.value.problems) == 3


async def test_sandbox_without_clients_is_open_and_says_so(build: Build, caplog: pytest.LogCaptureFixture) -> None:
    services, anonymous = await build()
    assert "errors" not in await anonymous.query(ORDERS)
    with caplog.at_level(logging.WARNING, logger="gateway"):
        _announce(services)
    assert "OPEN to anyone (sandbox mode)" in caplog.text


@pytest.mark.parametrize(
    ("_case", "claims"),
    [
        ("scope string", {"scope": "orders:read"}),
        ("scope list", {"scope": ["orders:read"]}),
        ("scp string", {"scp": "orders:read"}),
        ("scp list", {"scp": ["orders:read"]}),
        ("both agreeing", {"scope": "orders:read", "scp": ["orders:read"]}),
        ("unknown scope added", {"scope": ["orders:read", "admin"]}),
    ],
)
async def test_every_scope_claim_shape_only_narrows_the_client(build: Build, _case: str, claims: dict[str, Any]) -> None:
    # given a read-write client and a token naming orders:read in one of the accepted shapes
    _, anonymous = await build(clients=CLIENTS, auth=AuthSettings(jwt_hs256_secret=JWT_SECRET))
    order = (await orders_by_connection(anonymous.as_(x_api_key="dashboard-key")))["sandbox-kombo"][0]
    caller = anonymous.as_(authorization=f"Bearer {hs256('dashboard-app', **claims)}")
    # when it writes, then it is forbidden; reading still works
    write = {"query": WRITE, "variables": {"input": {"orderId": order, "status": "COMPLETED"}}}
    response = await caller.post(write)
    assert (response.status_code, codes(response.json())) == (403, ["FORBIDDEN"])
    assert "errors" not in await caller.query(ORDERS)


@pytest.mark.parametrize(
    ("_case", "claims"),
    [
        ("scope number", {"scope": 5}),
        ("scope object", {"scope": {"orders:read": True}}),
        ("scope null", {"scope": None}),
        ("scope list with a number", {"scope": ["orders:read", 1]}),
        ("scp nested list", {"scp": [["orders:read"]]}),
        ("scp boolean", {"scp": True}),
        ("claims disagreeing", {"scope": "orders:read", "scp": "orders:read results:write"}),
    ],
)
async def test_any_other_scope_claim_shape_is_unauthenticated(build: Build, _case: str, claims: dict[str, Any]) -> None:
    _, anonymous = await build(clients=CLIENTS, auth=AuthSettings(jwt_hs256_secret=JWT_SECRET))
    caller = anonymous.as_(authorization=f"Bearer {hs256('dashboard-app', **claims)}")
    response = await caller.post({"query": ORDERS})
    assert (response.status_code, response.json()) == (401, UNAUTHENTICATED)


SANDBOX_CONTROL = ("/sandbox/kombo/_sandbox/requests", "/sandbox/stackone/_sandbox/webhooks",
                   "/sandbox/unified_to/_sandbox/orders", "/sandbox/kombo/_sandbox/faults")  # fmt: skip


async def test_production_serves_no_sandbox_route(build: Build) -> None:
    # given the service in development: the sandbox's control routes answer anyone (and say so)
    _, development = await build()
    for path in SANDBOX_CONTROL:
        assert (await development.http.get(path)).status_code == 200
    # when it runs in production (a configuration file with sandbox connections is refused at start;
    # settings built in code are not), then no sandbox route is served at all
    _, production = await build(environment="production", clients=CLIENTS)
    for path in SANDBOX_CONTROL:
        assert (await production.http.get(path)).status_code == 404
    injected = await production.http.post("/sandbox/kombo/_sandbox/orders", json={})
    assert injected.status_code == 404


async def test_development_logs_which_sandbox_routes_are_open(build: Build, caplog: pytest.LogCaptureFixture) -> None:
    services, _ = await build(clients=CLIENTS)
    with caplog.at_level(logging.WARNING, logger="gateway"):
        _announce(services)
    lines = [r.getMessage() for r in caplog.records if "sandbox routes" in r.getMessage()]
    assert len(lines) == 1
    for path in SANDBOX_CONTROL:
        assert path in lines[0]
