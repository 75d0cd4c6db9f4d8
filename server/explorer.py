"""GraphiQL served by the service itself: the page, its vendored assets and our operations as default tabs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from providers.models import OrderRef, OrderStatus
from store import OrderFilter, Store

STATIC = Path(__file__).resolve().parent / "static"
VENDORED = STATIC / "graphiql"
TABS = STATIC / "tabs"
API_KEY_HEADERS = {"x-api-key": "replace-with-your-api-key"}
PLACEHOLDER_ID = "paste-an-order-id-from-OpenOrders"


class Explorer:
    """The GraphiQL page for `/graphql` and the routes of its assets under `/graphiql/`."""

    def __init__(self, store: Callable[[], Store], *, open_access: bool) -> None:
        self._store = store
        # A page anyone may load names real orders only when anyone may read them anyway.
        self.open_access = open_access
        self._template = (STATIC / "explorer.html").read_text(encoding="utf-8")
        self._documents = {path.stem.partition("-")[2]: path.read_text(encoding="utf-8")
                           for path in sorted(TABS.glob("*.graphql"))}  # fmt: skip

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/graphiql/explorer.js", lambda request: FileResponse(STATIC / "explorer.js")),
            Mount("/graphiql", app=StaticFiles(directory=VENDORED)),
        ]

    async def page(self, request: Request) -> Response:
        config = {"tabs": await self.tabs()}
        # `<` escaped so no value can close the script element it is embedded in.
        embedded = json.dumps(config, ensure_ascii=False).replace("<", "\\u003c")
        # Not cached: the tabs name orders as they are now.
        page = self._template.replace("__EXPLORER_CONFIG__", embedded)
        return HTMLResponse(page, headers={"cache-control": "no-store"})

    async def tabs(self) -> list[dict[str, str]]:
        """One tab per operation of `server/static/tabs/`, in file order, variables filled from the store."""
        open_id, with_result_id = await self._example_orders() if self.open_access else (None, None)
        variables: dict[str, dict[str, Any]] = {
            "order-with-result": {"id": with_result_id or open_id or PLACEHOLDER_ID},
            "submit-result": {"input": example_result(open_id or PLACEHOLDER_ID)},
        }
        tabs = []
        for name, query in self._documents.items():
            tab = {"query": query}
            if name in variables:
                tab["variables"] = json.dumps(variables[name], indent=2)
            if name == "with-an-api-key" or not self.open_access:
                tab["headers"] = json.dumps(API_KEY_HEADERS, indent=2)
            tabs.append(tab)
        return tabs

    async def _example_orders(self) -> tuple[str | None, str | None]:
        """The newest open order, and the newest order that has a result (either may be missing)."""
        store = self._store()
        open_page = await store.list_orders(OrderFilter(statuses=(OrderStatus.OPEN,)), first=1, count_total=False)
        recent = await store.list_orders(OrderFilter(), first=50, count_total=False)
        refs = [OrderRef(o.connection_id, o.provider_order_id) for o in recent.orders]
        results = await store.latest_results(refs)
        open_id = open_page.orders[0].global_id if open_page.orders else None
        with_result = next((ref.encode() for ref in refs if ref in results), None)
        return open_id, with_result


def example_result(order_id: str) -> dict[str, Any]:
    """A completed, passed result every provider takes (Kombo needs `resultUrl`)."""
    return {
        "orderId": order_id,
        "status": "COMPLETED",
        "outcome": "PASSED",
        "score": {"value": 80, "min": 0, "max": 100, "label": "Percentage"},
        "summary": "Strong TypeScript skills",
        "resultUrl": "https://vendor.example/results/80",
        "completedAt": "2026-11-01T10:00:00Z",
    }
