"""What resolvers report as it happens (delivery transitions, sync runs); the server turns it into metrics."""

from __future__ import annotations

from typing import Protocol


class Observer(Protocol):
    def delivery_transition(self, connection_id: str, from_state: str, to_state: str) -> None: ...

    def sync_run(self, connection_id: str, outcome: str, orders: int) -> None: ...


class NullObserver:
    """Reports nothing (tests and tools that build a context without a server)."""

    def delivery_transition(self, connection_id: str, from_state: str, to_state: str) -> None:
        return None

    def sync_run(self, connection_id: str, outcome: str, orders: int) -> None:
        return None
