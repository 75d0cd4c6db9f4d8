"""Live events over real sockets with real clients (graphql-ws and graphql-sse from Node) against
`python app.py`: both transports, tenancy and scopes, resume with `after`, limits, shutdown (two
instances on PostgreSQL: test_live_instances.py; a client that stops reading: test_live_slow_consumer.py)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox import SANDBOX_CREDENTIALS
from server.clients import hash_api_key
from tests.delivery.processes import start_service
from tests.interop.test_gateways import HERE, node_or_skip
from tests.processes import served_app

KEYS = {"all": "all-key", "kombo": "kombo-key", "writer": "writer-key"}
EVENTS = """
subscription Live($after: String, $filter: AssessmentOrderEventFilter) {
  assessmentOrderEvents(after: $after, filter: $filter) { kind at cursor order { id provider connection { id } status } }
}
"""
WRITE = """
mutation Write($id: ID!) { updateAssessmentResult(input: {orderId: $id, status: COMPLETED}) { delivery { state } } }
"""


EVENTS_SETTINGS = "[events]\nkeepalive_seconds = 1\nmax_subscriptions_per_client = 3\n"


def config(workdir: Path, database_url: str | None = None, sections: str = EVENTS_SETTINGS) -> str:
    database_url = database_url or f"sqlite+aiosqlite:///{workdir / 'g.db'}"
    lines = [f'[service]\nsandbox = true\ndatabase_url = "{database_url}"\n', sections]
    connections = {"sandbox-stackone": ("STACKONE", "stackone"), "sandbox-kombo": ("KOMBO", "kombo/v1"),
                   "sandbox-unified-to": ("UNIFIED_TO", "unified_to")}  # fmt: skip
    for conn_id, (provider, path) in connections.items():
        creds = SANDBOX_CREDENTIALS[path.split("/")[0]]
        lines.append(f'[[connections]]\nid = "{conn_id}"\nprovider = "{provider}"\nsandbox = true\n'
                     f'base_url = "http://sandbox/{path}"\n' + "".join(f'{k} = "{v}"\n' for k, v in creds.items()))
    clients = [("all", '["orders:read", "results:write"]', '["*"]'),
               ("kombo", '["orders:read"]', '["sandbox-kombo"]'),
               ("writer", '["results:write"]', '["*"]')]  # fmt: skip
    for name, scopes, conns in clients:
        lines.append(f'[[clients]]\nname = "{name}"\napi_key_sha256 = ["{hash_api_key(KEYS[name])}"]\n'
                     f"scopes = {scopes}\nconnections = {conns}\n")
    path = workdir / "gateway.toml"
    path.write_text("\n".join(lines))
    return str(path)


def environment(config_path: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "GATEWAY_CONFIG": config_path}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    node_or_skip()
    workdir = tmp_path_factory.mktemp("live")
    with served_app(workdir, environment(config(workdir))) as base:
        yield base


def gql(base: str, query: str, variables: dict[str, Any] | None = None, key: str = "all") -> dict[str, Any]:
    response = httpx.post(f"{base}/graphql", json={"query": query, "variables": variables or {}},
                          headers={"x-api-key": KEYS[key]}, timeout=30)  # fmt: skip
    return response.json()


def cursor_now(base: str, key: str = "all") -> str:
    return gql(base, "{ assessmentOrderEventCursor }", key=key)["data"]["assessmentOrderEventCursor"]


class Subscriber:
    """A Node subscriber process; its JSON lines are read as they come."""

    def __init__(self, base: str, transport: str, variables: dict[str, Any], key: str | None, count: int,
                 query: str = EVENTS) -> None:  # fmt: skip
        args = [node_or_skip(), str(HERE / "live_client.mjs"), "--transport", transport, "--url", f"{base}/graphql",
                "--query", query, "--variables", json.dumps(variables), "--count", str(count)]  # fmt: skip
        if key is not None:
            args += ["--api-key", KEYS[key]]
        self.proc = subprocess.Popen(args, cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def next_line(self) -> dict[str, Any]:
        """The next line as it comes (blocks)."""
        assert self.proc.stdout is not None
        return json.loads(self.proc.stdout.readline())

    def lines(self, timeout: float = 60) -> list[dict[str, Any]]:
        """Every line until the process exits (it exits after its count, an error or the end)."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            pytest.fail(f"subscriber did not finish:\n{out}\n{err}")
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def events_of(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    assert all("data" in line["next"] for line in lines if "next" in line), lines
    return [line["next"]["data"]["assessmentOrderEvents"] for line in lines if "next" in line]


def new_order(base: str, provider: str) -> None:
    assert httpx.post(f"{base}/sandbox/{provider}/_sandbox/orders", json={}, timeout=30).status_code == 201


def an_order(base: str, provider: str) -> str:
    query = "query($p: [Provider!]) { assessmentOrders(first: 1, filter: {providers: $p}) { edges { node { id } } } }"
    return gql(base, query, {"p": [provider]})["data"]["assessmentOrders"]["edges"][0]["node"]["id"]


@pytest.mark.parametrize("transport", ["ws", "sse"])
def test_order_received_result_recorded_and_delivery_changed_arrive_in_order(service: str, transport: str) -> None:
    # given a subscriber from now on
    after = cursor_now(service)
    stackone = an_order(service, "STACKONE")
    kinds = ["ORDER_RECEIVED", "RESULT_RECORDED", "DELIVERY_CHANGED"]  # (start-up fills StackOne details: updates)
    subscriber = Subscriber(service, transport, {"after": after, "filter": {"kinds": kinds}}, "all", count=3)
    # when a Kombo order arrives by webhook and a result is written to a StackOne order
    new_order(service, "kombo")
    assert gql(service, WRITE, {"id": stackone})["data"]["updateAssessmentResult"]["delivery"]["state"] == "DELIVERED"
    # then the three events arrive, in that order, each with its order
    events = events_of(subscriber.lines())
    assert [e["kind"] for e in events] == ["ORDER_RECEIVED", "RESULT_RECORDED", "DELIVERY_CHANGED"]
    assert events[0]["order"]["provider"] == "KOMBO" and events[0]["order"]["status"] == "OPEN"
    assert events[1]["order"]["id"] == events[2]["order"]["id"] == stackone
    assert events[2]["order"]["status"] == "COMPLETED"
    assert len({e["cursor"] for e in events}) == 3


@pytest.mark.parametrize("transport", ["ws", "sse"])
def test_a_client_sees_only_its_connections_and_its_filter(service: str, transport: str) -> None:
    # given a client limited to the Kombo connection, filtering on ORDER_RECEIVED
    after = cursor_now(service, "kombo")
    subscriber = Subscriber(service, transport, {"after": after, "filter": {"kinds": ["ORDER_RECEIVED"]}}, "kombo", 2)
    # when orders arrive on StackOne, Unified.to and Kombo, and a result is written to a Kombo order
    new_order(service, "stackone")
    new_order(service, "unified_to")
    gql(service, WRITE, {"id": an_order(service, "KOMBO")})
    new_order(service, "kombo")
    new_order(service, "kombo")
    # then only the Kombo arrivals reach it
    events = events_of(subscriber.lines())
    assert [(e["kind"], e["order"]["connection"]["id"]) for e in events] == [("ORDER_RECEIVED", "sandbox-kombo")] * 2


@pytest.mark.parametrize("transport", ["ws", "sse"])
def test_without_the_read_scope_or_credentials_the_subscription_is_refused(service: str, transport: str) -> None:
    # a client without orders:read
    lines = Subscriber(service, transport, {}, "writer", count=1).lines()
    assert not events_of(lines)
    assert ("FORBIDDEN" in json.dumps(lines)) or ("responded with 403" in json.dumps(lines))
    # no credentials at all
    lines = Subscriber(service, transport, {}, None, count=1).lines()
    assert not events_of(lines)
    assert ('"closed": 4403' in json.dumps(lines)) or ("responded with 401" in json.dumps(lines))


@pytest.mark.parametrize("transport", ["ws", "sse"])
def test_resume_with_after_replays_what_was_missed_without_duplicates(service: str, transport: str) -> None:
    # given a subscriber that received one event and went away
    start = cursor_now(service)
    received = {"kinds": ["ORDER_RECEIVED"]}
    first = Subscriber(service, transport, {"after": start, "filter": received}, "all", count=1)
    new_order(service, "kombo")
    seen = events_of(first.lines())
    assert len(seen) == 1
    # when three more orders arrive while it is away
    for provider in ("kombo", "stackone", "unified_to"):
        new_order(service, provider)
    # then resuming with its last cursor gives exactly those three, in order, and then live ones
    resumed = Subscriber(service, transport, {"after": seen[-1]["cursor"], "filter": received}, "all", count=4)
    new_order(service, "kombo")
    events = events_of(resumed.lines())
    assert [e["order"]["provider"] for e in events] == ["KOMBO", "STACKONE", "UNIFIED_TO", "KOMBO"]
    assert seen[0]["cursor"] not in {e["cursor"] for e in events}


def test_a_forged_cursor_is_refused_with_a_code(service: str) -> None:
    lines = Subscriber(service, "sse", {"after": "not-a-cursor"}, "all", count=1).lines()
    assert "BAD_USER_INPUT" in json.dumps(lines)


def test_subscriptions_per_client_are_limited(service: str) -> None:
    # given three live subscriptions (the configured limit) of one client, each having received an event
    after, received = cursor_now(service), {"kinds": ["ORDER_RECEIVED"]}
    open_ones = [Subscriber(service, "ws", {"after": after, "filter": received}, "all", count=2) for _ in range(3)]
    new_order(service, "kombo")
    for subscriber in open_ones:
        assert "next" in subscriber.next_line()
    # when the client opens a fourth, then it is refused with 429 (SUBSCRIPTION_LIMIT)
    refused = Subscriber(service, "sse", {"after": after}, "all", count=1).lines()
    assert "responded with 429" in json.dumps(refused)
    over_ws = Subscriber(service, "ws", {"after": after}, "all", count=1).lines()
    assert "SUBSCRIPTION_LIMIT" in json.dumps(over_ws)
    # and the three go on: one more event ends them normally
    new_order(service, "kombo")
    for subscriber in open_ones:
        assert len(events_of(subscriber.lines())) == 1


@pytest.mark.parametrize("transport", ["ws", "sse"])
def test_shutdown_closes_live_streams_with_the_protocols_codes(tmp_path: Path, transport: str) -> None:
    # given a live subscription on a service started as a user starts it
    node_or_skip()
    service = asyncio.run(start_service(Path(config(tmp_path)), tmp_path / "service.log"))
    try:
        received = {"kinds": ["ORDER_RECEIVED"]}
        subscriber = Subscriber(service.url, transport, {"after": cursor_now(service.url), "filter": received}, "all", 0)
        new_order(service.url, "kombo")
        assert "next" in subscriber.next_line()  # the subscription is live
        # when the service gets SIGTERM
        service.proc.send_signal(signal.SIGTERM)
        lines = subscriber.lines()
    finally:
        clean = service.stop()
    # then it shuts down cleanly (an open SSE stream does not hold it), and the stream ends as the
    # protocol says: WebSocket close 1012 (service restart); SSE ends without `complete`
    assert clean, (tmp_path / "service.log").read_text()[-2000:]
    if transport == "ws":
        assert [line.get("closed") for line in lines if "closed" in line] == [1012], lines
    else:
        assert not any("complete" in line for line in lines), lines
        assert any("error" in line for line in lines), lines  # graphql-sse: the stream ended before `complete`
