"""Faithful in-process StackOne, Kombo and Unified.to servers, built from the provider docs only.

Never import providers/, store/, schema/, resolvers/ or server/ here: a wrong adapter model would then pass
its own tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.routing import Mount

from sandbox import kombo, stackone, unified_to
from sandbox._common import RecordedRequest
from sandbox.kombo import KomboSandbox
from sandbox.seed_data import SANDBOX_CREDENTIALS
from sandbox.stackone import StackOneSandbox
from sandbox.unified_to import UnifiedToSandbox

__all__ = [
    "SANDBOX_CREDENTIALS",
    "KomboSandbox",
    "RecordedRequest",
    "Sandboxes",
    "StackOneSandbox",
    "UnifiedToSandbox",
    "create_sandbox_app",
    "create_sandboxes",
]


@dataclass
class Sandboxes:
    stackone: StackOneSandbox
    kombo: KomboSandbox
    unified_to: UnifiedToSandbox


def create_sandboxes(seed: bool = True) -> Sandboxes:
    """One sandbox per provider with the SANDBOX_CREDENTIALS; seeded unless `seed=False`."""
    boxes = Sandboxes(StackOneSandbox(), KomboSandbox(), UnifiedToSandbox())
    if seed:
        boxes.stackone.seed()
        boxes.kombo.seed()
        boxes.unified_to.seed()
    return boxes


def create_sandbox_app(sandboxes: Sandboxes) -> Starlette:
    """All three under one app: `/stackone`, `/kombo` (API at `/kombo/v1`), `/unified_to`."""
    return Starlette(
        routes=[
            Mount("/stackone", app=stackone.create_app(sandboxes.stackone)),
            Mount("/kombo", app=kombo.create_app(sandboxes.kombo)),
            Mount("/unified_to", app=unified_to.create_app(sandboxes.unified_to)),
        ]
    )
