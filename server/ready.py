"""Readiness (`/ready`): 503 while the store is unreachable, its migrations are not at head, or the
background deliverer is not running; the JSON body says which. `/health` stays liveness only."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse

from resolvers.context import AppContext
from store.outage import is_outage

log = logging.getLogger("gateway.ready")
STORE_TIMEOUT_SECONDS = 2.0


async def readiness(ctx: AppContext) -> dict[str, str]:
    """Each check's verdict: "ok", or what is wrong."""
    checks = {"store": "ok", "migrations": "ok", "deliverer": "ok"}
    try:
        async with asyncio.timeout(STORE_TIMEOUT_SECONDS):
            if not await ctx.store.migrations_at_head():
                checks["migrations"] = "not at head"
    except Exception as exc:
        if not is_outage(exc):
            raise
        log.warning("not ready: store unreachable (%r)", exc)
        checks["store"] = checks["migrations"] = "unreachable"
    if not ctx.dispatch.delivering():
        checks["deliverer"] = "not running"
    return checks


def ready_route(context: Callable[[], AppContext]) -> Callable[[Request], object]:
    async def ready(request: Request) -> JSONResponse:
        checks = await readiness(context())
        ok = all(value == "ok" for value in checks.values())
        body = {"status": "ready" if ok else "not ready", "checks": checks}
        return JSONResponse(body, status_code=200 if ok else 503, headers=None if ok else {"Retry-After": "5"})

    return ready
