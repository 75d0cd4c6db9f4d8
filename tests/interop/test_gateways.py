"""Federation interop: the service composed with a Node subgraph behind Apollo Gateway and Hive Gateway."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from schema.root import SDL_PATH
from tests.processes import START_TIMEOUT, served_app, stop

HERE = Path(__file__).resolve().parent
GATEWAYS = {"apollo": "apollo_gateway.mjs", "hive": "hive_gateway.mjs"}

ORDER_FIELDS = "id status provider candidate { emails }"
THROUGH_REVIEWS = "{ reviews { note order { " + ORDER_FIELDS + " } } }"
ORDERS_WITH_REVIEWS = "{ assessmentOrders(first: 100) { edges { node { id reviews { note } } } } }"
DIRECT_LIST = "{ assessmentOrders(first: 100) { edges { node { " + ORDER_FIELDS + " } } } }"


@dataclass
class NodeProcess:
    """A Node script that announced itself with one JSON line on stdout."""

    proc: subprocess.Popen[bytes]
    announced: dict[str, Any]

    @property
    def url(self) -> str:
        return str(self.announced["url"])


def node_or_skip() -> str:
    """The node binary, once `npm ci` has installed tests/interop; otherwise skip (fail under CI)."""
    node = shutil.which("node")
    missing = [] if node else ["`node` is not on PATH"]
    if not (HERE / "node_modules").is_dir():
        missing.append("tests/interop/node_modules is absent (run `npm ci` in tests/interop)")
    if missing:
        reason = "federation interop needs Node packages: " + "; ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    assert node is not None
    return node


def start_node(node: str, script: str, args: list[str], logs: Path) -> NodeProcess:
    """Run a script of tests/interop and wait for its JSON announcement line."""
    out, err = logs / f"{script}.out", logs / f"{script}.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen([node, script, *args], cwd=HERE, stdout=stdout, stderr=stderr)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        line = out.read_text().split("\n", 1)
        if len(line) == 2:  # a whole first line
            announced = json.loads(line[0])
            if announced.get("ready"):
                return NodeProcess(proc, announced)
            stop(proc)
            pytest.fail(f"{script} did not start: {json.dumps(announced, indent=2)}\n{err.read_text()}")
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    stop(proc)
    pytest.fail(f"{script} did not announce itself (exit {proc.returncode}):\n{out.read_text()}\n{err.read_text()}")


def post(url: str, query: str) -> dict[str, Any]:
    response = httpx.post(url, json={"query": query}, timeout=15)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module")
def node() -> str:
    return node_or_skip()


@pytest.fixture(scope="module")
def service(node: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python app.py --port P` in a fresh directory: sandbox providers, a new SQLite file."""
    env = {k: v for k, v in os.environ.items() if k != "GATEWAY_CONFIG"}
    with served_app(tmp_path_factory.mktemp("service"), env) as base:
        yield f"{base}/graphql"


@pytest.fixture(scope="module")
def direct_orders(service: str) -> dict[str, dict[str, Any]]:
    """The orders the reviews point at, as the service answers them directly: one per provider,
    plus one of another status than the first, so the gateways' answers can't be a constant."""
    body = post(service, DIRECT_LIST)
    assert "errors" not in body, body
    nodes = [edge["node"] for edge in body["data"]["assessmentOrders"]["edges"]]
    chosen: dict[str, dict[str, Any]] = {}
    for order in nodes:
        if order["provider"] not in {o["provider"] for o in chosen.values()}:
            chosen[order["id"]] = order
    other_status = next((o for o in nodes if o["status"] != nodes[0]["status"] and o["id"] not in chosen), None)
    if other_status is not None:
        chosen[other_status["id"]] = other_status
    assert {o["provider"] for o in chosen.values()} == {"STACKONE", "KOMBO", "UNIFIED_TO"}
    assert all(o["candidate"]["emails"] for o in chosen.values())
    return chosen


@pytest.fixture(scope="module")
def reviews_subgraph(
    node: str, direct_orders: dict[str, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    started = start_node(
        node, "reviews_subgraph.mjs", ["--orders", json.dumps(list(direct_orders))], tmp_path_factory.mktemp("reviews")
    )
    try:
        yield started.url
    finally:
        stop(started.proc)


@pytest.fixture(scope="module", params=sorted(GATEWAYS))
def gateway(
    request: pytest.FixtureRequest,
    node: str,
    service: str,
    reviews_subgraph: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[NodeProcess]:
    """Each gateway composes the two subgraphs itself (it fails to start on a composition error)."""
    name: str = request.param
    args = ["--subgraph", f"assessments={service}", "--subgraph", f"reviews={reviews_subgraph}"]
    started = start_node(node, GATEWAYS[name], args, tmp_path_factory.mktemp(name))
    try:
        yield started
    finally:
        stop(started.proc)


def test_composition_succeeds_without_warnings(gateway: NodeProcess) -> None:
    assert gateway.announced["ready"] is True
    assert "errors" not in gateway.announced
    warnings = [hint for hint in gateway.announced["hints"] if hint["level"] != "INFO"]
    assert warnings == []


def test_order_fields_come_from_the_service_through_entities(
    gateway: NodeProcess, direct_orders: dict[str, dict[str, Any]]
) -> None:
    body = post(gateway.url, THROUGH_REVIEWS)
    assert body == {
        "data": {
            "reviews": [
                {"note": f"note {i}", "order": order} for i, order in enumerate(direct_orders.values(), start=1)
            ]
        }
    }


def test_reviews_join_the_service_orders(gateway: NodeProcess, direct_orders: dict[str, dict[str, Any]]) -> None:
    body = post(gateway.url, ORDERS_WITH_REVIEWS)
    assert "errors" not in body, body
    notes = {edge["node"]["id"]: edge["node"]["reviews"] for edge in body["data"]["assessmentOrders"]["edges"]}
    expected = {order_id: [{"note": f"note {i}"}] for i, order_id in enumerate(direct_orders, start=1)}
    assert {k: v for k, v in notes.items() if v} == expected
    assert len(notes) > len(expected)  # orders without reviews are listed too, with an empty list


def test_the_gateways_compose_the_committed_sdl_unchanged(service: str) -> None:
    # the scripts compose what `_service { sdl }` serves: that is the committed file, security directives off
    served = post(service, "{ _service { sdl } }")["data"]["_service"]["sdl"]
    assert served.rstrip("\n") == SDL_PATH.read_text().rstrip("\n")
    assert "@authenticated" not in served and "@requiresScopes" not in served


def test_node_resolves_an_order_through_the_gateway(
    gateway: NodeProcess, direct_orders: dict[str, dict[str, Any]]
) -> None:
    order_id, order = next(iter(direct_orders.items()))
    query = '{ node(id: "%s") { __typename id ... on AssessmentOrder { status provider candidate { emails } } } }'
    body = post(gateway.url, query % order_id)
    assert body == {"data": {"node": {"__typename": "AssessmentOrder", **order}}}
