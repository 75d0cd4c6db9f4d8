"""Kombo: assessment orders arrive by webhook or the orders list; results go back with a PUT."""

from __future__ import annotations

from providers.kombo.client import KomboProvider
from providers.kombo.mapping import order_from_kombo, result_to_kombo

__all__ = ["KomboProvider", "order_from_kombo", "result_to_kombo"]
