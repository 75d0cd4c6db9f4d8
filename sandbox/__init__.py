"""Faithful in-process StackOne, Kombo and Unified.to servers, built from the provider docs only.

Never import providers/, store/, schema/, resolvers/ or server/ here: a wrong adapter model would then pass
its own tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount

from sandbox import _persist, kombo, stackone, unified_to
from sandbox._common import RecordedRequest
from sandbox._webhooks import Delivery, WebhookTarget, seed_event_id
from sandbox.kombo import KomboSandbox
from sandbox.seed_data import SANDBOX_CREDENTIALS
from sandbox.stackone import StackOneSandbox
from sandbox.unified_to import UnifiedToSandbox

__all__ = [
    "SANDBOX_CREDENTIALS",
    "Delivery",
    "KomboSandbox",
    "RecordedRequest",
    "Sandboxes",
    "StackOneSandbox",
    "UnifiedToSandbox",
    "WebhookTarget",
    "create_sandbox_app",
    "create_sandboxes",
    "deliver_all",
]


@dataclass
class Sandboxes:
    stackone: StackOneSandbox
    kombo: KomboSandbox
    unified_to: UnifiedToSandbox
    # Where the durable state is kept across restarts (sandbox/_persist.py); None keeps it in memory only.
    state_path: Path | None = None

    def save(self) -> None:
        """Write the durable state to `state_path` (nothing without one)."""
        if self.state_path is not None:
            _persist.save(self, self.state_path)

    def for_provider(self, provider: str) -> StackOneSandbox | KomboSandbox | UnifiedToSandbox:
        """The sandbox of a provider named as the API names it (`STACKONE`, `KOMBO`, `UNIFIED_TO`)."""
        box: StackOneSandbox | KomboSandbox | UnifiedToSandbox = getattr(self, provider.lower())
        return box


def create_sandboxes(seed: bool = True, state_path: Path | None = None) -> Sandboxes:
    """One sandbox per provider with the SANDBOX_CREDENTIALS; seeded unless `seed=False`.

    With a `state_path`, the state saved there by an earlier run is restored instead of the seed, and every
    request that may change a sandbox saves it again (`create_sandbox_app`).
    """
    boxes = Sandboxes(StackOneSandbox(), KomboSandbox(), UnifiedToSandbox(), state_path)
    if state_path is not None and _persist.load(boxes, state_path):
        return boxes
    if seed:
        boxes.stackone.seed()
        boxes.kombo.seed()
        boxes.unified_to.seed()
    return boxes


def create_sandbox_app(sandboxes: Sandboxes) -> Starlette:
    """All three under one app: `/stackone`, `/kombo` (API at `/kombo/v1`), `/unified_to`; saving their
    state after every request that may change it when they have a `state_path`."""
    saving = [Middleware(_persist.SaveAfterWrites, save_state=sandboxes.save)] if sandboxes.state_path else []
    return Starlette(
        routes=[
            Mount("/stackone", app=stackone.create_app(sandboxes.stackone)),
            Mount("/kombo", app=kombo.create_app(sandboxes.kombo)),
            Mount("/unified_to", app=unified_to.create_app(sandboxes.unified_to)),
        ],
        middleware=saving,
    )


async def deliver_all(sandboxes: Sandboxes) -> dict[str, list[int]]:
    """Deliver the `created` webhook of every order each sandbox holds (after seeding: the seeded ones),
    in order, to its `webhook_target`; sandboxes without a target are skipped (empty list).

    Event ids (Unified.to: nonces) are derived from the order id, so seeding the same record twice is a
    redelivery the receiver deduplicates, not a second event. Returns the HTTP statuses per provider.
    """
    statuses: dict[str, list[int]] = {}
    for name in ("stackone", "kombo", "unified_to"):
        box: StackOneSandbox | KomboSandbox | UnifiedToSandbox = getattr(sandboxes, name)
        statuses[name] = []
        if box.webhook_target is None:
            continue
        for order_id in list(box.orders):
            event_id = seed_event_id(name, order_id, "created")
            statuses[name].append(await box.deliver(order_id, "created", event_id=event_id))
    return statuses
