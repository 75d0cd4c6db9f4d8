"""A store outage on the streaming paths, against `python app.py` on a PostgreSQL cluster of the
test's own that the test stops (`-m immediate`): a subscription (or query) that cannot start answers a
coded SERVICE_UNAVAILABLE, over SSE as HTTP 503 with Retry-After, over WebSocket as an `error`
message, never a 500 or a stream dropped without a code; once the store is back, so are they."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.delivery.own_cluster import OwnCluster, require_tools
from tests.delivery.processes import Service, start_service
from tests.interop.test_gateways import node_or_skip
from tests.live.test_live_clients import EVENTS, KEYS, Subscriber, config, cursor_now, events_of, new_order

pytestmark = pytest.mark.postgres


@pytest.fixture
def cluster() -> Iterator[OwnCluster]:
    require_tools()
    own = OwnCluster().init()
    own.start()
    yield own
    own.remove()


@pytest.fixture
def service(cluster: OwnCluster, tmp_path: Path) -> Iterator[Service]:
    node_or_skip()
    url = cluster.create_database("live_outage")
    started = asyncio.run(start_service(Path(config(tmp_path, url)), tmp_path / "service.log"))
    yield started
    started.stop()


def sse(base: str, query: str, variables: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{base}/graphql", json={"query": query, "variables": variables}, timeout=60,
                      headers={"accept": "text/event-stream", "x-api-key": KEYS["all"]})  # fmt: skip


def test_streams_that_cannot_start_answer_service_unavailable(cluster: OwnCluster, service: Service) -> None:
    base = service.url
    # given a cursor, an event after it that the instance has handed out (so resuming from the cursor
    # must read the log), and then the store goes down
    after = cursor_now(base)
    received = {"kinds": ["ORDER_RECEIVED"]}
    seen = Subscriber(base, "ws", {"after": after, "filter": received}, "all", count=1)
    new_order(base, "kombo")
    assert len(events_of(seen.lines())) == 1
    cluster.stop()
    # when a client subscribes from that cursor over SSE, then it gets 503, Retry-After and the code
    refused = sse(base, EVENTS, {"after": after})
    assert refused.status_code == 503 and refused.headers["retry-after"], refused.text
    assert [e["extensions"]["code"] for e in refused.json()["errors"]] == ["SERVICE_UNAVAILABLE"]
    # and so does a query sent the same way
    query = sse(base, "{ assessmentOrderEventCursor }", {})
    assert query.status_code == 503 and query.headers["retry-after"], query.text
    # over WebSocket the subscription gets an `error` message with the code (the socket stays usable)
    lines = Subscriber(base, "ws", {"after": after}, "all", count=1).lines()
    assert [line["error"] for line in lines if "error" in line] == [[{
        "message": "The service is temporarily unavailable; retry shortly.",
        "extensions": {"code": "SERVICE_UNAVAILABLE"},
    }]], lines  # fmt: skip
    # when the store is back, then the same subscription starts and replays what it missed
    cluster.start()
    [event] = events_of(Subscriber(base, "sse", {"after": after, "filter": received}, "all", count=1).lines())
    assert event["kind"] == "ORDER_RECEIVED" and event["order"]["provider"] == "KOMBO"
    assert "subscription over SSE failed" not in service.log.read_text()
