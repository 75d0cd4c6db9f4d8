"""Live events: time from a webhook's 200 to the event at a subscriber, and the memory of idle subscribers.

    .venv/bin/python -m bench.live_events [--events 200] [--subscribers 1000]

Starts `python app.py` (the default run: SQLite, sandbox providers) on a free loopback port. Latency:
one graphql-transport-ws subscriber (ORDER_RECEIVED on sandbox-kombo); signed Kombo webhooks are
posted one at a time, and each sample is the time from the webhook's 200 to that order's event at
the subscriber. Memory: the service's RSS before and after `--subscribers` WebSocket connections,
each with one live subscription (all proven live by one event they all receive).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import websockets

from bench.timing import pct
from bench.webhook_intake import kombo_event, signed
from sandbox import SANDBOX_CREDENTIALS
from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[1]
QUERY = """subscription($after: String) { assessmentOrderEvents(after: $after, filter: {kinds: [ORDER_RECEIVED],
  connectionIds: ["sandbox-kombo"]}) { cursor order { providerOrderId } } }"""


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def subscriber(base: str, after: str) -> websockets.ClientConnection:
    ws = await websockets.connect(base.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"],
                                  max_queue=None)  # fmt: skip
    await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": QUERY, "variables": {"after": after}}}))
    return ws


async def next_event(ws: websockets.ClientConnection) -> str:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if message["type"] == "error":
            raise RuntimeError(f"subscription refused: {message['payload']}")
        if message["type"] == "next":
            return str(message["payload"]["data"]["assessmentOrderEvents"]["order"]["providerOrderId"])


async def latency(base: str, http: httpx.AsyncClient, events: int) -> list[float]:
    cursor = (await http.post("/graphql", json={"query": "{ assessmentOrderEventCursor }"})).json()
    ws = await subscriber(base, cursor["data"]["assessmentOrderEventCursor"])
    secret, run, samples = SANDBOX_CREDENTIALS["kombo"]["webhook_secret"], f"live{int(time.time())}", []
    for n in range(events):
        raw, headers = signed(kombo_event(n, run), secret)
        response = await http.post("/webhooks/sandbox-kombo", content=raw, headers=headers)
        acknowledged = time.perf_counter()
        assert response.status_code == 200, response.text
        assert await next_event(ws) == f"{run}-order-{n:06d}"
        samples.append((time.perf_counter() - acknowledged) * 1000)
    await ws.close()
    return samples


async def idle_memory(base: str, http: httpx.AsyncClient, pid: int, count: int) -> tuple[float, float, float]:
    before = rss_mb(pid)
    cursor = (await http.post("/graphql", json={"query": "{ assessmentOrderEventCursor }"})).json()
    after = cursor["data"]["assessmentOrderEventCursor"]
    sockets = [await subscriber(base, after) for _ in range(count)]
    raw, headers = signed(kombo_event(0, f"idle{int(time.time())}"), SANDBOX_CREDENTIALS["kombo"]["webhook_secret"])
    start = time.perf_counter()
    assert (await http.post("/webhooks/sandbox-kombo", content=raw, headers=headers)).status_code == 200
    await asyncio.gather(*(next_event(ws) for ws in sockets))  # every one of them is live
    fan_out = (time.perf_counter() - start) * 1000
    during = rss_mb(pid)
    for ws in sockets:
        await ws.close()
    return before, during, fan_out


async def main(events: int, subscribers: int) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "GATEWAY_CONFIG": _config(Path(workdir), subscribers)}
        proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], cwd=workdir, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            async with httpx.AsyncClient(base_url=base, timeout=30) as http:
                await _healthy(http)
                await asyncio.sleep(2)  # start-up intake settles
                samples = await latency(base, http, events)
                before, during, fan_out = await idle_memory(base, http, proc.pid, subscribers)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(f"webhook 200 -> event at a subscriber ({events} events, SQLite, one instance):")
    print(f"  p50 {pct(samples, 50):.1f} ms   p99 {pct(samples, 99):.1f} ms   max {max(samples):.1f} ms")
    print(f"{subscribers} idle WebSocket subscribers: RSS {before:.0f} MB -> {during:.0f} MB "
          f"(+{(during - before) * 1024 / subscribers:.0f} KB each); one event to all of them in {fan_out:.0f} ms")


def _config(workdir: Path, subscribers: int) -> str:
    """The default run's three sandbox connections, open (no clients), with room for the subscribers."""
    lines = [f'[service]\nsandbox = true\ndatabase_url = "sqlite+aiosqlite:///{workdir / "g.db"}"\n',
             f"[events]\nmax_subscriptions_per_client = {subscribers + 10}\n"]  # fmt: skip
    for conn_id, provider, path in (("sandbox-stackone", "STACKONE", "stackone"), ("sandbox-kombo", "KOMBO", "kombo/v1"),
                                    ("sandbox-unified-to", "UNIFIED_TO", "unified_to")):  # fmt: skip
        creds = SANDBOX_CREDENTIALS[path.split("/")[0]]
        lines.append(f'[[connections]]\nid = "{conn_id}"\nprovider = "{provider}"\nsandbox = true\n'
                     f'base_url = "http://sandbox/{path}"\n' + "".join(f'{k} = "{v}"\n' for k, v in creds.items()))
    path = workdir / "gateway.toml"
    path.write_text("\n".join(lines))
    return str(path)


async def _healthy(http: httpx.AsyncClient) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if (await http.get("/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("the service did not start")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--subscribers", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.subscribers))
