"""Background Kombo order sync: one loop per Kombo connection, never overlapping."""

from __future__ import annotations

from resolvers.context import AppContext


class Poller:
    """Starts and stops the sync loops (to be implemented)."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
