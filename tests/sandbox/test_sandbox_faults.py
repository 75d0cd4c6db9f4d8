"""The sandboxes' fault switches through their control endpoint: validation, each fault's answer,
and the record of writes in flight."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

import httpx
import pytest

from sandbox import SANDBOX_CREDENTIALS, Sandboxes, create_sandbox_app

STACKONE = SANDBOX_CREDENTIALS["stackone"]
AUTH = {
    "authorization": "Basic " + base64.b64encode(f"{STACKONE['api_key']}:".encode()).decode(),
    "x-account-id": STACKONE["account_id"],
}


@pytest.fixture
async def http(sandboxes: Sandboxes) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_sandbox_app(sandboxes))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        yield client


def write_path(sandboxes: Sandboxes) -> str:
    return f"/stackone/unified/ats/assessments/orders/{next(iter(sandboxes.stackone.orders))}/result"


@pytest.mark.parametrize(
    ("switches", "message"),
    [
        ({"rate_500": 2}, "rate_500 must be a number from 0 to 1"),
        ({"rate_500": 0.6, "rate_503": 0.6}, "the rates add up to more than 1"),
        ({"explode": 1}, "unknown switch 'explode'"),
        ({"latency_ms": [5, 1]}, "latency_ms must be"),
    ],
)
async def test_bad_switches_are_refused(http: httpx.AsyncClient, switches: dict[str, object], message: str) -> None:
    answer = await http.post("/stackone/_sandbox/faults", json=switches)
    assert answer.status_code == 400 and message in answer.json()["message"]


@pytest.mark.parametrize(
    ("switches", "status", "header"),
    [
        ({"rate_429": 1, "retry_after": 3}, 429, "3"),
        ({"rate_500": 1}, 500, None),
        ({"rate_503": 1}, 503, None),
        ({"down_for_seconds": 5}, 503, None),
        ({"rate_malformed": 1}, 200, None),
        ({"rate_timeout": 1, "hang_seconds": 0}, 504, None),
    ],
)
async def test_each_fault_answers_and_is_never_applied(
    http: httpx.AsyncClient, sandboxes: Sandboxes, switches: dict[str, object], status: int, header: str | None
) -> None:
    await http.post("/stackone/_sandbox/faults", json=switches)
    answer = await http.patch(write_path(sandboxes), json={"summary": "x"}, headers=AUTH)
    assert answer.status_code == status and answer.headers.get("retry-after") == header
    record = (await http.get("/stackone/_sandbox/faults")).json()
    assert record["applied"] == {} and sum(record["injected"].values()) == 1
    # switched off, the next write is applied; the record stays
    await http.delete("/stackone/_sandbox/faults")
    assert (await http.patch(write_path(sandboxes), json={"summary": "x"}, headers=AUTH)).status_code == 200
    assert len((await http.get("/stackone/_sandbox/faults")).json()["applied"]) == 1


async def test_dropped_connection_and_overlaps_are_recorded(http: httpx.AsyncClient, sandboxes: Sandboxes) -> None:
    await http.post("/stackone/_sandbox/faults", json={"rate_drop": 1})
    with pytest.raises(httpx.RemoteProtocolError):
        await http.patch(write_path(sandboxes), json={"summary": "x"}, headers=AUTH)
    # two writes for one order at once are recorded as an overlap
    await http.post("/stackone/_sandbox/faults", json={"rate_drop": 0, "latency_ms": [50, 50]})
    answers = await asyncio.gather(*(http.patch(write_path(sandboxes), json={"summary": "x"}, headers=AUTH) for _ in range(2)))
    assert [a.status_code for a in answers] == [200, 200]
    record = (await http.get("/stackone/_sandbox/faults")).json()
    assert len(record["overlaps"]) == 1 and record["max_in_flight"] == 2
