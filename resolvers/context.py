"""The application context every resolver receives: store, connections, adapters and a clock."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from providers.connections import Connection
from providers.errors import OrderNotFoundError
from providers.models import OrderRef
from providers.protocol import AssessmentProvider
from resolvers.dispatch import Dispatch
from resolvers.group_commit import GroupCommit
from resolvers.live import EventHub
from resolvers.observer import NullObserver, Observer
from store import Store


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class AppContext:
    store: Store
    connections: Mapping[str, Connection]
    adapters: Mapping[str, AssessmentProvider]
    clock: Callable[[], datetime] = field(default=utc_now)
    dispatch: Dispatch = field(default_factory=Dispatch)  # delivery policy, guards, attempts in flight
    observer: Observer = field(default_factory=NullObserver)  # metrics of delivery transitions and sync runs
    events: EventHub | None = None  # live events; None: not recorded (no subscriber can exist)
    intake_writes: GroupCommit[Any, Any] | None = None  # webhook deliveries' group commit (resolvers/intake.py)

    def adapter_for(self, ref: OrderRef) -> AssessmentProvider:
        """The adapter of the order's connection; an unknown connection is an unknown order."""
        adapter = self.adapters.get(ref.connection_id)
        if adapter is None:
            raise OrderNotFoundError("No such assessment order.")
        return adapter

    def for_connections(self, visible: frozenset[str] | None) -> AppContext:
        """The context of a client that may see only `visible` connections (None: all of them).

        Every order lookup, list and write goes through `connections` / `adapters` (and
        `adapter_for`), so an order of another connection is NOT_FOUND, like a missing one.
        """
        if visible is None:
            return self
        return replace(
            self,
            connections={k: v for k, v in self.connections.items() if k in visible},
            adapters={k: v for k, v in self.adapters.items() if k in visible},
        )
