"""Group commit: writes that arrive while one is being committed are committed together, next.

No timer: a lone write goes at once; writes that queue up behind a commit in progress (concurrent
requests) share the next one. Each caller is answered only once its own write is committed. When a
group fails, its writes are committed one by one, so one bad write fails alone. Writes that touch
the same keys never share a group (the second waits for the next), so each is decided on a state
that includes the one before it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger("gateway.intake")
T = TypeVar("T")
R = TypeVar("R")
MAX_GROUP = 64


class GroupCommit(Generic[T, R]):
    def __init__(
        self, write: Callable[[Sequence[T]], Awaitable[list[R]]], keys: Callable[[T], Iterable[Hashable]]
    ) -> None:
        self._write, self._keys = write, keys
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._group: list[tuple[T, asyncio.Future[R]]] = []  # being committed now
        self._writer: asyncio.Task[None] | None = None
        self.groups = 0  # commits made (for tests and benchmarks)

    async def submit(self, item: T) -> R:
        """Write `item` (with whatever else is waiting); its result once committed."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="group-commit")
        return await asyncio.shield(future)  # a caller that goes away does not cancel the others' commit

    async def _drain(self) -> None:
        try:
            await self._drain_waiting()
        except BaseException:  # cancelled (shutdown): nobody waits for an answer that cannot come
            for _, future in self._group + self._waiting:
                future.cancel()
            self._group, self._waiting = [], []
            raise

    async def _drain_waiting(self) -> None:
        while self._waiting:
            self._group = group = self._take()
            try:
                results = await self._write([item for item, _ in group])
            except Exception:  # noqa: BLE001 - each write alone: one failure must not fail the others
                log.warning("a group of %d write(s) failed; committing them one by one", len(group), exc_info=True)
                for one in group:
                    await self._commit([one])
                continue
            self.groups += 1
            for (_, future), result in zip(group, results, strict=True):
                if not future.done():
                    future.set_result(result)

    def _take(self) -> list[tuple[T, asyncio.Future[R]]]:
        taken: list[tuple[T, asyncio.Future[R]]] = []
        left: list[tuple[T, asyncio.Future[R]]] = []
        seen: set[Hashable] = set()
        for entry in self._waiting:
            keys = set(self._keys(entry[0]))
            if len(taken) < MAX_GROUP and not keys & seen:
                taken.append(entry)
            else:
                left.append(entry)
            seen |= keys  # a later write on the same keys also waits (order kept)
        self._waiting = left
        return taken

    async def _commit(self, group: list[tuple[T, asyncio.Future[R]]]) -> None:
        (item, future), = group
        try:
            result = (await self._write([item]))[0]
        except Exception as exc:  # noqa: BLE001 - handed to its own caller
            if not future.done():
                future.set_exception(exc)
            return
        self.groups += 1
        if not future.done():
            future.set_result(result)
