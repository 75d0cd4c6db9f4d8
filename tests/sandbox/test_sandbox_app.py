"""The combined sandbox app: mounts, control routes, reset, credentials and import isolation."""

from __future__ import annotations

import ast
import base64
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from sandbox import SANDBOX_CREDENTIALS, Sandboxes, create_sandbox_app, create_sandboxes

SANDBOX_DIR = Path(__file__).resolve().parents[2] / "sandbox"
FORBIDDEN = ("providers", "store", "schema", "resolvers", "server", "app")
KOMBO = {"authorization": "Bearer sandbox-kombo-key", "x-integration-id": "greenhouse:sandbox1"}


@pytest.fixture
def boxes() -> Sandboxes:
    return create_sandboxes()


@pytest.fixture
async def http(boxes: Sandboxes) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_sandbox_app(boxes))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        yield client


def test_credentials_match_the_sandboxes(boxes: Sandboxes) -> None:
    so, kb, unified = boxes.stackone, boxes.kombo, boxes.unified_to
    assert SANDBOX_CREDENTIALS["stackone"] == {
        "api_key": so.api_key, "account_id": so.account_id, "webhook_secret": so.webhook_secret,
    }  # fmt: skip
    assert SANDBOX_CREDENTIALS["kombo"] == {
        "api_key": kb.api_key, "integration_id": kb.integration_id, "webhook_secret": kb.webhook_secret,
    }  # fmt: skip
    assert SANDBOX_CREDENTIALS["unified_to"] == {
        "api_key": unified.api_key, "connection_id": unified.connection_id, "workspace_id": unified.workspace_id,
        "webhook_secret": unified.webhook_secret,
    }  # fmt: skip
    secrets = [creds["webhook_secret"] for creds in SANDBOX_CREDENTIALS.values()]
    assert len(set(secrets)) == 3 and all(secret.startswith("sandbox-") for secret in secrets)


def test_unseeded_sandboxes_are_empty_and_seeding_is_deterministic() -> None:
    empty = create_sandboxes(seed=False)
    assert not (empty.stackone.orders or empty.kombo.orders or empty.unified_to.orders)
    first, second = create_sandboxes(), create_sandboxes()
    assert first.stackone.orders == second.stackone.orders and first.stackone.results == second.stackone.results
    assert first.kombo.orders == second.kombo.orders and first.kombo.created_at == second.kombo.created_at
    assert first.unified_to.orders == second.unified_to.orders
    first.kombo.orders[next(iter(first.kombo.orders))]["status"] = "CANCELLED"
    assert first.kombo.orders != second.kombo.orders  # no shared mutable seed


async def test_every_provider_is_mounted(http: httpx.AsyncClient, boxes: Sandboxes) -> None:
    so_id, un_id = next(iter(boxes.stackone.orders)), next(iter(boxes.unified_to.orders))
    basic = "Basic " + base64.b64encode(b"sandbox-stackone-key:").decode()
    so = await http.patch(f"/stackone/unified/ats/assessments/orders/{so_id}/result", json={},
                          headers={"authorization": basic, "x-account-id": "sandbox-account-1"})  # fmt: skip
    kb = await http.get("/kombo/v1/assessment/orders", headers=KOMBO)
    un = await http.patch(f"/unified_to/assessment/66a1f0c2b7e4a9d3c1f0e8a1/order/{un_id}",
                          json={"workspace_id": "66a1f0c2b7e4a9d3c1f0e8a0", "connection_id": "66a1f0c2b7e4a9d3c1f0e8a1"},
                          headers={"authorization": "Bearer sandbox-unified-key"})  # fmt: skip
    assert (so.status_code, kb.status_code, un.status_code) == (200, 200, 200)
    assert boxes.kombo.received[0].path == "/kombo/v1/assessment/orders"
    assert boxes.unified_to.received[0].path.startswith("/unified_to/assessment/")


@pytest.mark.parametrize("_case", ["stackone", "kombo", "unified_to"])
async def test_control_routes_list_record_and_reset(http: httpx.AsyncClient, boxes: Sandboxes, _case: str) -> None:
    box = getattr(boxes, _case)
    # given a refused request and a changed order
    await http.put(f"/{_case}/nowhere", json={"x": 1})
    first_id = next(iter(box.orders))
    box.orders[first_id] = {"id": first_id, "changed": True}
    # then the control routes show them, and are not recorded themselves
    orders = (await http.get(f"/{_case}/_sandbox/orders")).json()
    assert {"id": first_id, "changed": True} in orders and len(orders) == len(box.orders)
    requests = (await http.get(f"/{_case}/_sandbox/requests")).json()
    assert [(r["method"], r["path"], r["status"], r["body"]) for r in requests] == [
        ("PUT", f"/{_case}/nowhere", 404, {"x": 1})
    ]
    assert requests[0]["raw_body"] == '{"x":1}'
    # when reset, the seed is back and the recording is empty
    assert (await http.post(f"/{_case}/_sandbox/reset")).status_code == 200
    assert box.orders == getattr(create_sandboxes(), _case).orders and box.received == []


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    return {name.split(".")[0] for name in names}


def test_sandbox_never_imports_the_service() -> None:
    files = sorted(SANDBOX_DIR.glob("*.py"))
    assert len(files) >= 5
    for path in files:
        assert not _imports(path) & set(FORBIDDEN), path.name
