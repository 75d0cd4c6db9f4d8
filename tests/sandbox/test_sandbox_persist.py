"""The sandboxes' state file: what a restart restores, and what an unreadable file does."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from app import sandbox_state_path
from sandbox import SANDBOX_CREDENTIALS, create_sandbox_app, create_sandboxes

KOMBO = SANDBOX_CREDENTIALS["kombo"]
KOMBO_HEADERS = {"authorization": f"Bearer {KOMBO['api_key']}", "x-integration-id": KOMBO["integration_id"]}
RESULT = {"status": "COMPLETED", "result_url": "https://v.example/r/1", "completed_at": "2026-11-01T10:00:00.000Z"}


async def test_changes_made_over_http_are_restored_by_the_next_sandboxes(tmp_path: Path) -> None:
    # given: sandboxes keeping their state in a file, an order created on each and a Kombo result written
    path = tmp_path / "state.json"
    boxes = create_sandboxes(state_path=path)
    transport = httpx.ASGITransport(app=create_sandbox_app(boxes))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
        created = {p: (await http.post(f"/{p}/_sandbox/orders")).json()["order"]["id"]
                   for p in ("stackone", "kombo", "unified_to")}  # fmt: skip
        put = await http.put(f"/kombo/v1/assessment/orders/{created['kombo']}/result", json=RESULT,
                             headers=KOMBO_HEADERS)  # fmt: skip
        assert put.status_code == 200, put.text
    # when: the next run builds its sandboxes from the same file
    again = create_sandboxes(state_path=path)
    # then: every order, result, creation time and counter is back
    for name in ("stackone", "kombo", "unified_to"):
        before, after = getattr(boxes, name), getattr(again, name)
        assert after.orders == before.orders and created[name] in after.orders
        assert after.created_count == before.created_count == 1
    assert again.kombo.results == {created["kombo"]: RESULT}
    assert again.kombo.created_at == boxes.kombo.created_at
    assert again.stackone.ats == boxes.stackone.ats and again.stackone.ids_only == boxes.stackone.ids_only


async def test_reads_do_not_write_the_state_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    transport = httpx.ASGITransport(app=create_sandbox_app(create_sandboxes(state_path=path)))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
        assert (await http.get("/kombo/v1/assessment/orders", headers=KOMBO_HEADERS)).status_code == 200
    assert not path.exists()


def test_an_unreadable_or_foreign_state_file_starts_from_the_seed(tmp_path: Path) -> None:
    seeded = create_sandboxes()
    for content in ("{not json", json.dumps({"version": 99}), json.dumps({"version": 1, "kombo": {}})):
        path = tmp_path / "state.json"
        path.write_text(content)
        boxes = create_sandboxes(state_path=path)
        assert boxes.kombo.orders == seeded.kombo.orders and boxes.stackone.results == seeded.stackone.results


def test_the_state_file_sits_beside_the_sqlite_file_only() -> None:
    assert sandbox_state_path("sqlite+aiosqlite:///data/gateway.db") == Path("data/gateway.sandbox.json")
    assert sandbox_state_path("sqlite+aiosqlite:///:memory:") is None
    assert sandbox_state_path("postgresql+asyncpg://postgres@127.0.0.1/gateway") is None
