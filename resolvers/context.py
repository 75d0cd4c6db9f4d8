"""The application context every resolver receives: store, connections, adapters and a clock."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from providers.connections import Connection
from providers.errors import OrderNotFoundError
from providers.models import OrderRef
from providers.protocol import AssessmentProvider
from store import Store


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class AppContext:
    store: Store
    connections: Mapping[str, Connection]
    adapters: Mapping[str, AssessmentProvider]
    clock: Callable[[], datetime] = field(default=utc_now)

    def adapter_for(self, ref: OrderRef) -> AssessmentProvider:
        """The adapter of the order's connection; an unknown connection is an unknown order."""
        adapter = self.adapters.get(ref.connection_id)
        if adapter is None:
            raise OrderNotFoundError("No such assessment order.")
        return adapter
