"""GraphiQL as the service serves it: its assets, the tabs and their variables, and the production policy."""

from __future__ import annotations

import json
import re
from typing import Any

from providers.models import OrderRef, OrderStatus
from server.explorer import API_KEY_HEADERS, PLACEHOLDER_ID, VENDORED
from tests.server.conftest import CLIENTS, Build, Caller

ASSETS = ("graphiql.min.js", "graphiql.min.css", "react.production.min.js", "react-dom.production.min.js")
TAB_NAMES = ["OpenOrders", "OrderWithResult", "SubmitResult", "DeliveriesWaiting", "WithAnApiKey"]


async def page_config(caller: Caller) -> dict[str, Any]:
    page = await caller.http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"  # the tabs name orders as they are now
    embedded = re.search(r'<script type="application/json" id="explorer-config">(.*?)</script>', page.text, re.S)
    assert embedded is not None
    config: dict[str, Any] = json.loads(embedded.group(1))
    return config


def operation_names(config: dict[str, Any]) -> list[str]:
    return [re.search(r"^(?:query|mutation) (\w+)", tab["query"], re.M).group(1) for tab in config["tabs"]]  # type: ignore[union-attr]


async def test_the_page_names_only_assets_of_the_service(build: Build) -> None:
    _, caller = await build()
    page = (await caller.http.get("/graphql", headers={"accept": "text/html"})).text
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(not re.match(r"^[a-z]+:|^//", s) for s in sources)  # relative: no CDN, no scheme
    for source in sources:
        asset = await caller.http.get(f"/{source}")
        assert asset.status_code == 200 and len(asset.content) > 1000, source


async def test_vendored_assets_are_served_with_their_licences(build: Build) -> None:
    _, caller = await build()
    for name in ASSETS:
        served = await caller.http.get(f"/graphiql/{name}")
        assert served.status_code == 200 and served.content == (VENDORED / name).read_bytes()
    licences = (await caller.http.get("/graphiql/LICENSES.txt")).text
    assert all(f"{name}@" in licences for name in ("graphiql", "react", "react-dom", "graphql", "codemirror"))
    versions = json.loads((VENDORED / "VERSIONS.json").read_text())
    assert f"graphiql@{versions['graphiql']} (MIT)" in licences


async def test_tabs_hold_our_operations_with_a_real_open_order(build: Build) -> None:
    services, caller = await build()
    config = await page_config(caller)
    assert operation_names(config) == TAB_NAMES
    tabs = dict(zip(TAB_NAMES, config["tabs"], strict=True))
    # the submit tab names a real order that is open, and the order tab a real order
    submit = json.loads(tabs["SubmitResult"]["variables"])["input"]
    order_id = json.loads(tabs["OrderWithResult"]["variables"])["id"]
    stored = await services.store.get_orders([OrderRef.parse(submit["orderId"]), OrderRef.parse(order_id)])
    assert stored[OrderRef.parse(submit["orderId"])].status is OrderStatus.OPEN and len(stored) in (1, 2)
    # an open service needs no key: only the API key example tab carries one
    assert [name for name, tab in tabs.items() if "headers" in tab] == ["WithAnApiKey"]
    assert json.loads(tabs["WithAnApiKey"]["headers"]) == API_KEY_HEADERS


async def test_each_tab_runs_as_written(build: Build) -> None:
    _, caller = await build()
    config = await page_config(caller)
    for name, tab in zip(TAB_NAMES, config["tabs"], strict=True):
        variables = json.loads(tab.get("variables") or "{}")
        body = await caller.query(tab["query"], variables) if name != "WithAnApiKey" else None
        if body is not None:
            assert "errors" not in body, (name, body)
    # the submitted result is delivered, and the order tab then shows that order's result
    after = await page_config(caller)
    shown = json.loads(after["tabs"][1]["variables"])["id"]
    submitted = json.loads(config["tabs"][2]["variables"])["input"]["orderId"]
    assert shown == submitted


async def test_a_service_with_clients_names_no_order_and_asks_for_a_key(build: Build) -> None:
    _, caller = await build(clients=CLIENTS)
    tabs = (await page_config(caller))["tabs"]
    assert all(json.loads(tab["headers"]) == API_KEY_HEADERS for tab in tabs)
    assert json.loads(tabs[1]["variables"])["id"] == PLACEHOLDER_ID
    assert json.loads(tabs[2]["variables"])["input"]["orderId"] == PLACEHOLDER_ID


async def test_production_serves_neither_the_page_nor_its_assets_unless_turned_on(build: Build) -> None:
    _, prod = await build(environment="production")
    off = await prod.http.get("/graphql", headers={"accept": "text/html", "apollo-require-preflight": "1"})
    assert off.status_code == 406 and "graphiql" not in off.text.lower()
    assert (await prod.http.get("/graphiql/graphiql.min.js")).status_code == 404
    _, on = await build(environment="production", graphiql=True)
    assert (await on.http.get("/graphiql/graphiql.min.js")).status_code == 200
    assert operation_names(await page_config(on)) == TAB_NAMES


async def test_the_embedded_config_cannot_close_its_script_element(build: Build) -> None:
    _, caller = await build()
    page = (await caller.http.get("/graphql", headers={"accept": "text/html"})).text
    config_part = page.split('id="explorer-config">', 1)[1].split("</script>", 1)[0]
    # the API key tab's comment says `Bearer <token>`: embedded escaped, so no "<" can end the element early
    assert "Bearer \\u003ctoken>" in config_part and "<" not in config_part
