"""StackOne: assessment orders arrive by webhook; results go back as a `PATCH .../result`."""

from __future__ import annotations

from providers.stackone.client import StackOneProvider
from providers.stackone.mapping import order_from_stackone, result_to_stackone

__all__ = ["StackOneProvider", "order_from_stackone", "result_to_stackone"]
