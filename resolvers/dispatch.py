"""What one instance holds for delivering results: the policy, its identity, the connection guards
and the attempts it has in flight."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from providers.connections import Connection
from providers.guard import ConnectionGuard, limits_for
from store.interface import DeliveryClaim

log = logging.getLogger("gateway.delivery")
MAX_RETRY_AFTER = 86400.0  # a provider's Retry-After is honoured up to a day (a longer one is a bug of theirs)


class DeliveryPolicy(BaseModel):
    """How results are delivered and retried (the `[delivery]` settings section)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The mutation waits this long for its first attempt; then it answers with the state so far.
    mutation_deadline_seconds: float = Field(5.0, gt=0)
    # Backoff after the n-th failed attempt: min(max, base * 2^(n-1)), half of it random (jitter),
    # and never sooner than the provider's Retry-After.
    base_delay_seconds: float = Field(1.0, gt=0)
    max_delay_seconds: float = Field(600.0, gt=0)
    # A claim lasts the connection's whole-call timeout plus this margin; a crashed instance's
    # claims are free again after it.
    lease_margin_seconds: float = Field(10.0, ge=0)
    poll_interval_seconds: float = Field(1.0, gt=0)
    batch_size: int = Field(50, ge=1)
    breaker_failures: int = Field(5, ge=1)
    breaker_cooldown_seconds: float = Field(10.0, gt=0)
    shutdown_grace_seconds: float = Field(10.0, ge=0)


def new_instance_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class Dispatch:
    policy: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    instance_id: str = field(default_factory=new_instance_id)
    guards: dict[str, ConnectionGuard] = field(default_factory=dict)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    rng: random.Random = field(default_factory=random.Random)
    wake: Callable[[], None] = lambda: None  # the background deliverer sets this to wake itself
    delivering: Callable[[], bool] = lambda: False  # the background deliverer's loop is running
    # A result may be waiting for a slot or an order's lease that this instance holds: each attempt
    # that ends wakes the deliverer. Cleared by a pass that starts with nothing held (`idle`).
    waiting: bool = False
    # The store is shared with other instances (PostgreSQL): they may queue results behind this one's
    # leases without this one knowing, so every attempt that ends wakes the deliverer (SQLite has one).
    shared: bool = False

    def queued(self) -> None:
        """A result was left waiting (no slot, or its order's lease is held): a pass now, and one after
        every attempt until a pass finds this instance idle."""
        self.waiting = True
        self.wake()

    def attempt_ended(self) -> None:
        """An attempt gave back its slot and its order's lease: a pass when something may wait for them."""
        if self.waiting or self.shared:
            self.wake()

    def idle(self) -> bool:
        """No attempt runs and no slot is held: nothing of this instance's keeps a result waiting."""
        return not self.tasks and all(guard.in_flight == 0 for guard in self.guards.values())

    def guard(self, connection: Connection) -> ConnectionGuard:
        guard = self.guards.get(connection.id)
        if guard is None:
            guard = ConnectionGuard(
                connection.provider, limits_for(connection), failure_threshold=self.policy.breaker_failures,
                cooldown_seconds=self.policy.breaker_cooldown_seconds,
            )  # fmt: skip
            self.guards[connection.id] = guard
        return guard

    def claim(self, now: datetime, connections: list[Connection]) -> DeliveryClaim:
        """A claim that outlives the slowest of these connections' calls by the lease margin (each
        attempt extends its own lease just before sending, and while the call runs)."""
        limits = [self.guard(c).limits for c in connections]  # (the guard's: built once per connection)
        longest = max((limit.call for limit in limits), default=0.0)
        quarantine = max((limit.quarantine for limit in limits), default=0.0)
        lease = timedelta(seconds=longest + self.policy.lease_margin_seconds)
        return DeliveryClaim(holder=self.instance_id, now=now, lease_until=now + lease, quarantine_seconds=quarantine)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # e.g. the store was unreachable: the claim expires and the delivery is tried again
            log.error("delivery attempt failed", exc_info=task.exception())

    def backoff(self, attempts: int, retry_after: float | None) -> timedelta:
        ceiling = min(self.policy.max_delay_seconds, self.policy.base_delay_seconds * 2 ** max(0, attempts - 1))
        delay = ceiling / 2 + self.rng.uniform(0, ceiling / 2)
        return timedelta(seconds=max(delay, min(retry_after or 0.0, MAX_RETRY_AFTER)))
