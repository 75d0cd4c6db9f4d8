"""Unified.to: assessment orders arrive by webhook; results go back as a whole-order PUT."""

from __future__ import annotations

from providers.unified_to.client import UnifiedToProvider
from providers.unified_to.mapping import order_from_unified_to, result_to_unified_to

__all__ = ["UnifiedToProvider", "order_from_unified_to", "result_to_unified_to"]
