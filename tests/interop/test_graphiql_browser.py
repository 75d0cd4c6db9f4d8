"""GraphiQL in a real browser (Debian's chromium, driven by playwright-core) with every other origin blocked."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.interop.test_gateways import HERE, node_or_skip
from tests.processes import served_app

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
TABS = ["OpenOrders", "OrderWithResult", "SubmitResult", "DeliveriesWaiting", "WithAnApiKey"]


def chromium_or_skip() -> Path:
    """Debian's chromium; skip without it (fail under CI, which installs it)."""
    if not CHROMIUM.exists():
        reason = f"the GraphiQL browser test needs chromium at {CHROMIUM} (apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The default run (sandbox providers, no configuration) from a fresh directory."""
    node_or_skip()
    chromium_or_skip()
    env = {k: v for k, v in os.environ.items() if k != "GATEWAY_CONFIG"}
    with served_app(tmp_path_factory.mktemp("graphiql"), env) as base:
        yield base


@pytest.fixture(scope="module")
def browsed(service: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("browser")
    done = subprocess.run(
        [node_or_skip(), "graphiql_browser.mjs", "--url", service, "--profile", str(work / "profile"),
         "--screenshot", str(work / "graphiql.png"), "--chromium", str(chromium_or_skip())],
        cwd=HERE, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    report["screenshot"] = work / "graphiql.png"
    return report


def test_the_page_loads_only_from_the_service_itself(browsed: dict[str, Any], service: str) -> None:
    assert browsed.get("error") is None
    # no request to any other origin was even attempted
    assert browsed["blocked"] == []
    assert browsed["attempted"] and all(url.startswith(service) for url in browsed["attempted"])
    # the page, its four vendored assets and our boot script all came from /graphiql
    assets = {url.removeprefix(service) for url in browsed["attempted"]} - {"/graphql"}
    assert assets == {f"/graphiql/{name}" for name in ("graphiql.min.css", "react.production.min.js",
                                                        "react-dom.production.min.js", "graphiql.min.js", "explorer.js")}  # fmt: skip
    assert browsed["consoleErrors"] == []


def test_the_page_renders_our_operations_as_tabs(browsed: dict[str, Any]) -> None:
    assert browsed["tabs"] == TABS
    assert "query OpenOrders" in browsed["query"]
    assert browsed["screenshot"].stat().st_size > 10_000  # a rendered page, not a blank one


def test_run_on_the_default_tab_returns_open_orders(browsed: dict[str, Any]) -> None:
    response = browsed["response"]
    assert "errors" not in response
    orders = [edge["node"] for edge in response["data"]["assessmentOrders"]["edges"]]
    assert orders and {order["status"] for order in orders} == {"OPEN"}
    assert {order["provider"] for order in orders} == {"STACKONE", "KOMBO", "UNIFIED_TO"}


def test_the_docs_list_federation_fields_and_types_after_ours(browsed: dict[str, Any]) -> None:
    fields, types = browsed["docs"]["rootFields"], browsed["docs"]["types"]
    assert fields[-2:] == ["_entities", "_service"] and "assessmentOrders" in fields[:-2]
    federation = [name for name in types if name.startswith("_")]
    assert federation and types[-len(federation) :] == federation
