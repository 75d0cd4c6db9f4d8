"""Processes of the comparison bench: a Python module or script on a free loopback port, and autocannon runs."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = ROOT / "tests" / "interop" / "node_modules"
START_TIMEOUT = 60.0


@dataclass
class Service:
    url: str
    process: asyncio.subprocess.Process

    def rss_mb(self) -> float:
        """Resident set size of the process (VmRSS), in MB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self) -> float:
        """CPU time the process has used so far (user + system, all threads), in seconds."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def started(
    workdir: Path, args: list[str], env: Mapping[str, str] | None = None, *, health: str | None = None
) -> AsyncIterator[Service]:
    """`python ARGS --port P` in `workdir` (output in workdir/<port>.log); ready once `health` answers
    200 (or, without one, once the port accepts connections). Terminated at the end."""
    port = free_port()
    log = (workdir / f"{port}.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable, *args, "--port", str(port), cwd=workdir, stdout=log, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    service = Service(f"http://127.0.0.1:{port}", process)
    try:
        await _wait_ready(service, health, workdir / f"{port}.log")
        yield service
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()
        log.close()


async def _wait_ready(service: Service, health: str | None, log: Path) -> None:
    deadline = asyncio.get_running_loop().time() + START_TIMEOUT
    async with httpx.AsyncClient(timeout=2) as http:
        while asyncio.get_running_loop().time() < deadline and service.process.returncode is None:
            try:
                if health is None:
                    await http.get(service.url)
                    return
                if (await http.get(service.url + health)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{service.url} did not start:\n{log.read_text()}")


async def load(
    url: str, body: str, headers: Mapping[str, str], *, duration: float | None = None, amount: int | None = None,
    connections: int = 1, sign: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One autocannon run (bench/load.cjs) of POST `url`; its figures. Every answer must be a 2xx."""
    spec = {"url": url, "method": "POST", "headers": dict(headers), "body": body, "connections": connections,
            "duration": duration, "amount": amount, "sign": dict(sign) if sign else None}  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        "node", str(ROOT / "bench" / "load.cjs"), json.dumps(spec), stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "NODE_PATH": str(NODE_MODULES)},
    )  # fmt: skip
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"autocannon failed ({process.returncode})")
    figures: dict[str, Any] = json.loads(out)
    if figures["non2xx"] or figures["errors"] or figures["timeouts"]:
        raise RuntimeError(f"{url}: not every answer was a 2xx: {figures}")
    return figures
