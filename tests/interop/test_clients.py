"""Real clients against `python app.py`: the graphql-http audit suite and @apollo/client 4 (APQ, safelist, auth)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from providers.models import OrderRef
from sandbox import SANDBOX_CREDENTIALS
from server.clients import hash_api_key
from tests.interop.test_gateways import HERE, node_or_skip
from tests.processes import served_app

JWT_SECRET = "interop-hs256-secret-at-least-32-bytes"
KEYS = {"dashboard": "dashboard-key", "partner": "partner-key", "reader": "reader-key", "kombo": "kombo-key"}
PARTNER_OPERATION = "query PartnerOrders { assessmentOrders(first: 3) { totalCount edges { node { id status } } } }"
PARTNER_ID = "partner-orders-v1"


def config(workdir: Path) -> str:
    """Sandbox connections, four clients (one safelisted with its manifest), an HS256 secret."""
    (workdir / "partner.json").write_text(json.dumps({
        "format": "apollo-persisted-query-manifest", "version": 1,
        "operations": [{"id": PARTNER_ID, "body": PARTNER_OPERATION, "name": "PartnerOrders", "type": "query"}],
    }))  # fmt: skip
    connections = {"sandbox-stackone": ("STACKONE", "stackone"), "sandbox-kombo": ("KOMBO", "kombo/v1"),
                   "sandbox-unified-to": ("UNIFIED_TO", "unified_to")}  # fmt: skip
    lines = [f'[service]\nsandbox = true\ndatabase_url = "sqlite+aiosqlite:///{workdir / "g.db"}"\n',
             f'[auth]\njwt_hs256_secret = "{JWT_SECRET}"\n',
             f'[[persisted_documents]]\nname = "partner-app"\npath = "{workdir / "partner.json"}"\n']  # fmt: skip
    for conn_id, (provider, path) in connections.items():
        creds = SANDBOX_CREDENTIALS[path.split("/")[0]]
        lines.append(f'[[connections]]\nid = "{conn_id}"\nprovider = "{provider}"\nsandbox = true\n'
                     f'base_url = "http://sandbox/{path}"\n' + "".join(f'{k} = "{v}"\n' for k, v in creds.items()))
    clients = [
        ("dashboard", '["orders:read", "results:write"]', '["*"]', 'jwt_subjects = ["dashboard-app"]\n'),
        ("partner", '["orders:read"]', '["*"]', 'safelist = true\ndocuments = ["partner-app"]\n'),
        ("reader", '["orders:read"]', '["*"]', ""),
        ("kombo", '["orders:read", "results:write"]', '["sandbox-kombo"]', ""),
    ]
    for name, scopes, conns, extra in clients:
        lines.append(f'[[clients]]\nname = "{name}"\napi_key_sha256 = ["{hash_api_key(KEYS[name])}"]\n'
                     f"scopes = {scopes}\nconnections = {conns}\n{extra}")
    path = workdir / "gateway.toml"
    path.write_text("\n".join(lines))
    return str(path)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    node_or_skip()
    workdir = tmp_path_factory.mktemp("clients")
    with served_app(workdir, {**os.environ, "GATEWAY_CONFIG": config(workdir)}) as base:
        yield f"{base}/graphql"


def run_node(script: str, *args: str) -> dict[str, Any]:
    done = subprocess.run([node_or_skip(), script, *args], cwd=HERE, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def test_graphql_http_audit_suite_passes_without_errors_or_warnings(service: str) -> None:
    report = run_node("graphql_http_audit.mjs", "--url", service, "--header", f"x-api-key={KEYS['dashboard']}",
                      "--header", "apollo-require-preflight=true")  # fmt: skip
    failed = [r for r in report["results"] if r["status"] != "ok"]
    assert failed == []
    assert len(report["results"]) == report["total"] >= 60  # every audit of the suite ran


def orders(service: str) -> dict[str, str]:
    body = httpx.post(service, json={"query": "{ assessmentOrders(first: 100) { edges { node { id connection { id } } } } }"},
                      headers={"x-api-key": KEYS["dashboard"]}).json()  # fmt: skip
    first: dict[str, str] = {}
    for edge in body["data"]["assessmentOrders"]["edges"]:
        first.setdefault(edge["node"]["connection"]["id"], edge["node"]["id"])
    return first


@pytest.fixture(scope="module")
def apollo(service: str) -> dict[str, Any]:
    expired = jwt.encode({"sub": "dashboard-app", "exp": int(time.time()) - 60}, JWT_SECRET, algorithm="HS256")
    return run_node(
        "apollo_client.mjs", "--url", service, "--keys", json.dumps(KEYS),
        "--manifest", json.dumps({"PartnerOrders": PARTNER_ID}),
        "--foreign-order", orders(service)["sandbox-stackone"],
        "--missing-order", OrderRef("sandbox-stackone", "no-such-order").encode(), "--expired-jwt", expired,
    )  # fmt: skip


def test_apq_link_registers_once_then_sends_only_the_hash_over_post(apollo: dict[str, Any]) -> None:
    run = apollo["apqPost"]
    assert [(s["method"], s["query"], bool(s["hash"])) for s in run["sent"]] == [
        ("POST", False, True), ("POST", True, True), ("POST", False, True),
    ]  # fmt: skip
    assert run["first"] == run["second"] and run["first"]["error"] is None
    assert run["first"]["data"]["assessmentOrders"]["totalCount"] > 0


def test_apq_link_sends_hashed_queries_by_get(apollo: dict[str, Any]) -> None:
    run = apollo["apqGet"]
    assert [(s["method"], s["query"]) for s in run["sent"]] == [("GET", False), ("POST", True), ("GET", False)]
    assert run["first"] == run["second"] and len(run["first"]["data"]["assessmentOrders"]["edges"]) == 2


def test_safelisted_partner_runs_its_manifest_by_id_and_nothing_else(apollo: dict[str, Any]) -> None:
    partner = apollo["partner"]
    assert partner["listed"]["error"] is None and partner["listed"]["data"]["assessmentOrders"]["totalCount"] > 0
    assert partner["sent"][0] == {"method": "POST", "query": False, "hash": PARTNER_ID}
    assert (partner["unlistedById"]["error"]["status"], partner["unlistedById"]["error"]["codes"]) == (
        404, ["PERSISTED_QUERY_NOT_IN_LIST"],
    )  # fmt: skip
    assert (partner["unlistedText"]["error"]["status"], partner["unlistedText"]["error"]["codes"]) == (
        403, ["QUERY_NOT_IN_SAFELIST"],
    )  # fmt: skip


def test_refused_callers_get_their_code_and_nothing_more(apollo: dict[str, Any]) -> None:
    unauthenticated = {"errors": [{"message": "Authentication failed.", "extensions": {"code": "UNAUTHENTICATED"}}]}
    for case in ("wrongKey", "expiredJwt"):
        assert (apollo[case]["error"]["status"], apollo[case]["error"]["body"]) == (401, unauthenticated), case
    forbidden = {"errors": [{"message": "Not allowed.", "extensions": {"code": "FORBIDDEN"}}]}
    assert (apollo["missingScope"]["error"]["status"], apollo["missingScope"]["error"]["body"]) == (403, forbidden)
    # another tenant's order reads and writes exactly like an order that does not exist
    assert apollo["foreignOrder"] == apollo["missingOrder"] == {"data": {"assessmentOrder": None}, "error": None}
    assert apollo["foreignWrite"] == apollo["missingWrite"]
    assert apollo["foreignWrite"]["error"]["codes"] == ["NOT_FOUND"]
