"""A StackOne-shaped provider on a loopback port (uvicorn in a thread) that records every write per
order: when it arrived, when it finished, whether it was applied. Two writes for one order in flight
at once are an overlap. Latency, a 429 storm and dropped connections are switched by the test.

A write is applied when the provider finishes processing it, even when the caller has gone (timed
out, killed): a real provider does not notice that its caller left."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from tests.processes import free_port

PATH = "/unified/ats/assessments/orders/"
SUFFIX = "/result"


@dataclass
class Visit:
    """One write request for an order."""

    order: str
    summary: str | None
    arrived: float
    finished: float | None = None
    status: int | None = None
    applied: bool = False


@dataclass
class Behaviour:
    """What the provider does with the next write (changed by the test at any time)."""

    latency: float = 0.0  # seconds each write is processed before it is applied
    first_latency: float | None = None  # for each order's first write instead of `latency`
    storm_until: float = 0.0  # until then (monotonic) every write answers 429 at once
    storm_for: float = 0.0  # a storm of this many seconds starts with the first write that arrives
    retry_after: float = 1.0
    drop_rate: float = 0.0  # applied, then the connection drops before the answer
    rng: random.Random = field(default_factory=lambda: random.Random(10))


@dataclass
class Record:
    visits: list[Visit] = field(default_factory=list)
    in_flight: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    overlaps: list[tuple[str, float]] = field(default_factory=list)
    current: dict[str, str | None] = field(default_factory=dict)  # order -> summary last applied
    applications: dict[str, list[str | None]] = field(default_factory=lambda: defaultdict(list))

    def in_flight_now(self) -> int:
        return sum(self.in_flight.values())


class FakeProvider:
    """The ASGI app; `behaviour` and `record` are read and set from the test's thread."""

    def __init__(self) -> None:
        self.behaviour = Behaviour()
        self.record = Record()
        self._seen: set[str] = set()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if scope["method"] != "PATCH" or not path.startswith(PATH) or not path.endswith(SUFFIX):
            await _answer(send, 404, {"statusCode": 404, "message": "Not found"})
            return
        order = path[len(PATH) : -len(SUFFIX)]
        body = await _body(receive)
        summary = json.loads(body).get("summary") if body else None
        visit = Visit(order, summary, time.monotonic())
        self.record.visits.append(visit)
        if body is None:  # the caller went (killed) before its body arrived whole: nothing to apply
            visit.finished, visit.status = visit.arrived, 0
            return
        if self.behaviour.storm_for and not self.behaviour.storm_until:
            self.behaviour.storm_until = visit.arrived + self.behaviour.storm_for
        if visit.arrived < self.behaviour.storm_until:
            visit.finished, visit.status = visit.arrived, 429
            extra = [(b"retry-after", f"{self.behaviour.retry_after:g}".encode())]
            await _answer(send, 429, {"statusCode": 429, "message": "Too Many Requests"}, extra)
            return
        await self._process(visit, send)

    async def _process(self, visit: Visit, send: Any) -> None:
        record, behaviour = self.record, self.behaviour
        if record.in_flight[visit.order] > 0:
            record.overlaps.append((visit.order, visit.arrived))
        record.in_flight[visit.order] += 1
        first = visit.order not in self._seen
        self._seen.add(visit.order)
        try:
            latency = behaviour.first_latency if first and behaviour.first_latency is not None else behaviour.latency
            await asyncio.sleep(latency)
            visit.applied = True
            record.current[visit.order] = visit.summary
            record.applications[visit.order].append(visit.summary)
        finally:
            record.in_flight[visit.order] -= 1
            visit.finished = time.monotonic()
        drop = behaviour.rng.random() < behaviour.drop_rate
        visit.status = 0 if drop else 200
        if drop:  # the status line goes out, then the connection is closed mid-body
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"80")]})
            raise ConnectionAbortedError("dropped on purpose")
        await _answer(send, 200, {"statusCode": 200, "message": "Record updated successfully."})


async def _body(receive: Any) -> bytes | None:
    """The request body; None when the client disconnected before it arrived whole."""
    chunks, more = [], True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


async def _answer(
    send: Any, status: int, payload: dict[str, Any], extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@contextmanager
def served_provider() -> Iterator[tuple[FakeProvider, str]]:
    """The fake on a free loopback port, in a thread with its own event loop; its base URL."""
    fake = FakeProvider()
    config = uvicorn.Config(
        fake, host="127.0.0.1", port=free_port(), lifespan="off", log_level="critical",
        timeout_graceful_shutdown=1, timeout_keep_alive=30,
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="fake-provider", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the fake provider did not start")
        time.sleep(0.02)
    try:
        yield fake, f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
