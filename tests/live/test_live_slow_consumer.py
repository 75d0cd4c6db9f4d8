"""A client that stops reading while events keep coming, over real sockets against `python app.py`
(a raw socket with a small receive window: WebSocket through the `websockets` protocol, SSE as plain
HTTP). The service ends the subscription once its queue overflows and the client took nothing for
keepalive_seconds, gives its subscription slot back (so it holds none of the events produced after),
and the client resumes with `after` from the last event it read: the rest, in order, once each."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.delivery.processes import Service, start_service
from tests.interop.test_gateways import node_or_skip
from tests.live.raw_clients import RawEventStream, RawWebSocket
from tests.live.test_live_clients import KEYS, Subscriber, config, cursor_now, events_of

SETTINGS = """[events]
keepalive_seconds = 1
max_subscriptions_per_client = 1
queue_size = 4

[limits]
max_aliases = 100
max_cost = 100000
max_tokens = 100000
"""
# Each event is large (the order's provider data 40 times), so the socket buffers fill after a few
# hundred events whatever size the kernel gives them.
BIG = ("subscription Big($after: String) { assessmentOrderEvents(after: $after, filter: {kinds: [ORDER_RECEIVED]}) "
       "{ kind cursor order { providerOrderId } " + " ".join(f"d{i}: order {{ providerData }}" for i in range(40))
       + " } }")  # fmt: skip
SMALL = ("subscription Small($after: String) { assessmentOrderEvents(after: $after, filter: {kinds: [ORDER_RECEIVED]}) "
         "{ kind cursor order { providerOrderId } } }")  # fmt: skip
MOST_EVENTS = 3000


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    node_or_skip()
    started = asyncio.run(start_service(Path(config(tmp_path, sections=SETTINGS)), tmp_path / "service.log"))
    yield started
    assert started.stop(), (tmp_path / "service.log").read_text()[-3000:]


def new_order(base: str) -> str:
    """A Unified.to order delivered by signed webhook (ORDER_RECEIVED); its provider order id."""
    response = httpx.post(f"{base}/sandbox/unified_to/_sandbox/orders", json={}, timeout=30)
    assert response.status_code == 201 and response.json()["webhook_status"] == 200, response.text
    return str(response.json()["order"]["id"])


def slot_free(base: str) -> bool:
    """Whether the client may open a stream (its one slot is not held): a query over SSE tells."""
    response = httpx.post(f"{base}/graphql", json={"query": "{ assessmentOrderEventCursor }"}, timeout=30,
                          headers={"accept": "text/event-stream", "x-api-key": KEYS["all"]})  # fmt: skip
    assert response.status_code in (200, 429), response.text
    return response.status_code == 200


def produce_until_released(base: str) -> list[str]:
    """Orders, ten at a time, until the service gave the stalled subscription's slot back."""
    produced: list[str] = []
    while not slot_free(base):
        assert len(produced) < MOST_EVENTS, "the stalled subscriber was never ended"
        produced += [new_order(base) for _ in range(10)]
    return produced


def rss_kib(service: Service) -> int:
    status = Path(f"/proc/{service.proc.pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))


def resumed(base: str, transport: str, cursor: str, count: int) -> list[str]:
    subscriber = Subscriber(base, transport, {"after": cursor}, "all", count, query=SMALL)
    return [e["order"]["providerOrderId"] for e in events_of(subscriber.lines(timeout=120))]


def test_a_websocket_client_that_stops_reading_is_closed_with_too_slow_and_resumes(service: Service) -> None:
    base = service.url
    # given a WebSocket subscriber that read its first event and then stops reading
    client = RawWebSocket(base, KEYS["all"])
    client.send({"id": "1", "type": "subscribe", "payload": {"query": BIG, "variables": {"after": cursor_now(base)}}})
    first = new_order(base)
    message = client.next_message()
    assert message["type"] == "next" and message["payload"]["data"]["assessmentOrderEvents"]["order"]["providerOrderId"] == first
    # when orders keep arriving, the service ends the subscription and gives its slot back
    produced = produce_until_released(base)
    # and a hundred more arrive, which it no longer holds for that client
    before = rss_kib(service)
    produced += [new_order(base) for _ in range(100)]
    grown = rss_kib(service) - before
    # then when the client reads again: a prefix of the events, in order, then close 1008 SUBSCRIBER_TOO_SLOW
    messages = client.messages_until_closed()
    client.close()
    # (uvicorn closes first with 1011 when the client took nothing for its ping interval + timeout, 40 s:
    # a starved machine can take that long to produce the events)
    closed = (client.close_code, client.close_reason)
    assert closed in ((1008, "SUBSCRIBER_TOO_SLOW"), (1011, "keepalive ping timeout")), (closed, client.ended_by)
    assert {m["type"] for m in messages} == {"next"}, [m["type"] for m in messages]
    read = [m["payload"]["data"]["assessmentOrderEvents"] for m in messages]
    got = [e["order"]["providerOrderId"] for e in read]
    assert got == produced[: len(got)] and len(got) < len(produced)
    # and resuming from the last event it read gives every other one, in order, without duplicates
    cursor = (read or [message["payload"]["data"]["assessmentOrderEvents"]])[-1]["cursor"]
    rest = resumed(base, "ws", cursor, len(produced) - len(got))
    assert rest == produced[len(got) :]
    assert grown < 64 * 1024, f"RSS grew {grown} KiB while events went to nobody"


def test_an_sse_client_that_stops_reading_has_its_stream_closed_and_resumes(service: Service) -> None:
    base = service.url
    # given an SSE subscriber that read its first event and then stops reading
    body = {"query": BIG, "variables": {"after": cursor_now(base)}}
    stream = RawEventStream(base, KEYS["all"], body)
    first = new_order(base)
    kind, data = stream.next_event()
    assert kind == "next" and json.loads(data)["data"]["assessmentOrderEvents"]["order"]["providerOrderId"] == first
    last_cursor = json.loads(data)["data"]["assessmentOrderEvents"]["cursor"]
    # when orders keep arriving, the service ends the stream and gives its slot back
    produced = produce_until_released(base)
    # then when the client reads again: a prefix of the events, in order, and the connection closes
    # without `complete` (SSE has no close code; the response is cut short)
    events = stream.events_until_closed()
    stream.close()
    assert not stream.ended, "the stream was ended as if it were complete"
    assert {kind for kind, _ in events} <= {"next"}
    read = [json.loads(data)["data"]["assessmentOrderEvents"] for _, data in events]
    got = [e["order"]["providerOrderId"] for e in read]
    assert got == produced[: len(got)] and len(got) < len(produced)
    # and resuming from the last event it read gives every other one, in order, without duplicates
    cursor = read[-1]["cursor"] if read else last_cursor
    assert resumed(base, "sse", cursor, len(produced) - len(got)) == produced[len(got) :]
