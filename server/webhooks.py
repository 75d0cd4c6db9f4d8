"""Webhook intake routes: POST /webhooks/{connection_id} for every configured connection."""

from __future__ import annotations

from collections.abc import Callable

from starlette.routing import BaseRoute

from resolvers.context import AppContext


def webhook_routes(app_context: Callable[[], AppContext]) -> list[BaseRoute]:
    """The webhook routes (to be implemented)."""
    return []
