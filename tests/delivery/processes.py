"""Real service processes for the delivery tests: a sandbox served on a loopback port from the test
process, `python app.py` subprocesses configured against it, orders recorded in their database."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from providers.stackone.mapping import order_from_stackone
from sandbox import SANDBOX_CREDENTIALS, Sandboxes, create_sandbox_app
from store import create_store
from tests.processes import ROOT, free_port

CONNECTION = "so"


@asynccontextmanager
async def served_sandbox(boxes: Sandboxes) -> AsyncIterator[str]:
    """The sandboxes on a loopback port (hanging requests are not waited for at shutdown)."""
    port = free_port()
    config = uvicorn.Config(
        create_sandbox_app(boxes), host="127.0.0.1", port=port, lifespan="off", log_level="critical",
        timeout_graceful_shutdown=1,
    )  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def write_config(path: Path, database_url: str, sandbox_url: str, delivery: dict[str, Any]) -> Path:
    creds = SANDBOX_CREDENTIALS["stackone"]
    policy = "\n".join(f"{k} = {v}" for k, v in delivery.items())
    path.write_text(f"""
[service]
database_url = "{database_url}"

[auth]
anonymous = true

[delivery]
{policy}

[[connections]]
id = "{CONNECTION}"
provider = "STACKONE"
base_url = "{sandbox_url}/stackone"
api_key = "{creds['api_key']}"
account_id = "{creds['account_id']}"
timeout_seconds = 2
quarantine_seconds = 1
""")
    return path


async def record_sandbox_orders(database_url: str, boxes: Sandboxes, order_ids: list[str]) -> list[str]:
    """Record the sandbox's StackOne orders in the service database (as their webhooks would);
    their global ids."""
    store = create_store(database_url)
    try:
        await store.migrate()
        orders = [order_from_stackone(CONNECTION, boxes.stackone.orders[oid], None) for oid in order_ids]
        for order in orders:
            await store.upsert_order(order)
    finally:
        await store.close()
    return [o.global_id for o in orders]


@dataclass
class Service:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> bool:
        """Graceful: SIGTERM; whether the lifespan shut down cleanly (uvicorn re-raises the signal,
        so the exit status is -SIGTERM)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=20)
        return code in (0, -signal.SIGTERM) and "Application shutdown complete" in self.log.read_text()


async def start_service(
    config: Path, log: Path, timeout: float = 120, extra_env: dict[str, str] | None = None
) -> Service:
    """`python app.py` with `config`, once `/health` answers (within `timeout` seconds: a starved
    machine starts it slowly)."""
    port = free_port()
    env = {**os.environ, **(extra_env or {}), "GATEWAY_CONFIG": str(config), "PYTHONPATH": str(ROOT)}
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "--port", str(port)],
            cwd=config.parent, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    service = Service(proc, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"service exited {proc.returncode}: {log.read_text()}")
            try:
                if (await http.get(f"{service.url}/health", timeout=1)).status_code == 200:
                    return service
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    service.kill()
    pytest.fail(f"service did not start: {log.read_text()}")
