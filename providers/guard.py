"""Per-connection protection of a provider: timeouts, a cap on writes in flight, a circuit breaker.

A `ConnectionGuard` is asked for a slot before a write (`try_reserve`) and runs the write in it
(`run`): the whole call is bounded by a deadline, the outcome feeds the breaker. The breaker opens
after `failure_threshold` retryable failures in a row, stays open for `cooldown_seconds`, then lets
one probe through (half open): its success closes the breaker, its failure opens it again. A 429
pauses the connection for its `Retry-After`; when the pause ends one probe write goes first, and
each success then widens the window of writes in flight by one (slow start) up to the cap. While a
guard gives no slot, writes stay queued in the store. State is per instance (in memory): each
instance protects the provider from itself.

The pause and the window are enforced twice: when a slot is reserved and again at the moment the
request leaves (`run` admits it). A slot reserved before a 429 arrived (its attempt was busy with the
store meanwhile) therefore never sends into the pause: it is `HeldBack` (nothing sent), and after
the pause only as many requests are out as the window allows, the probe alone first, whoever
reserved their slots when.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

import httpx

from providers.connections import Connection
from providers.errors import DomainError, ProviderRateLimitedError, ProviderUnavailableError
from providers.models import ProviderName

T = TypeVar("T")


@dataclass(frozen=True)
class Limits:
    """Timeouts in seconds and the writes allowed in flight at once."""

    connect: float
    read: float
    call: float  # the whole call, connect to last byte
    max_in_flight: int
    # After an outcome we could not see, nothing is sent for the order for this long: the longest
    # the provider may still be processing a request it received (its documented maximum).
    quarantine: float = 60.0


# StackOne's request lifetime is 60 s (it retries a rate-limited ATS itself, then answers 408), so its
# read timeout outlasts it and a slow answer is still seen. Kombo and Unified.to document no maximum;
# both write through to the ATS, and 60 s is taken as theirs. Kombo refuses more than ~30 concurrent
# actions per integration. The quarantine after an unseen outcome is that maximum.
DEFAULT_LIMITS: dict[ProviderName, Limits] = {
    ProviderName.STACKONE: Limits(connect=5.0, read=65.0, call=70.0, max_in_flight=20, quarantine=60.0),
    ProviderName.KOMBO: Limits(connect=5.0, read=65.0, call=70.0, max_in_flight=25, quarantine=60.0),
    ProviderName.UNIFIED_TO: Limits(connect=5.0, read=65.0, call=70.0, max_in_flight=20, quarantine=60.0),
}


def limits_for(connection: Connection) -> Limits:
    """The provider's defaults, overridden by what the connection sets."""
    base = DEFAULT_LIMITS[connection.provider]
    call = connection.timeout_seconds or base.call
    return Limits(
        connect=min(connection.connect_timeout_seconds or base.connect, call),
        read=min(connection.read_timeout_seconds or base.read, call),
        call=call,
        max_in_flight=connection.max_in_flight or base.max_in_flight,
        quarantine=base.quarantine if connection.quarantine_seconds is None else connection.quarantine_seconds,
    )


def http_timeout(limits: Limits) -> httpx.Timeout:
    return httpx.Timeout(limits.read, connect=limits.connect)


class HeldBack(ProviderRateLimitedError):
    """A write not sent: the connection is paused by a 429, or its slow-start window stayed full.
    Nothing left the service; the write is due again after `retry_after`."""


class BreakerState(StrEnum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


class ConnectionGuard:
    """Slots, breaker and pause of one connection. Not thread-safe; one event loop."""

    def __init__(
        self,
        provider: ProviderName,
        limits: Limits,
        *,
        failure_threshold: int = 5,
        cooldown_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.provider = provider
        self.limits = limits
        self.failure_threshold = failure_threshold
        self.cooldown_seconds = cooldown_seconds
        self.clock = clock
        self.in_flight = 0
        self.failures = 0  # retryable failures in a row
        self.opened_at: float | None = None
        self.paused_until = 0.0
        self.probing = False
        self.window = limits.max_in_flight  # writes allowed in flight now (1 after a 429, then +1 per success)
        self.sending = 0  # requests admitted by `run` and not finished
        self._freed = asyncio.Event()
        self._changed = asyncio.Event()  # replaced on every change of `sending`, the window or the pause

    @property
    def state(self) -> BreakerState:
        if self.opened_at is None:
            return BreakerState.CLOSED
        if self.clock() - self.opened_at < self.cooldown_seconds:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def wait_seconds(self) -> float:
        """How long until a write may start (0: now, if a slot is free)."""
        now = self.clock()
        wait = max(0.0, self.paused_until - now)
        if self.opened_at is not None:
            wait = max(wait, self.opened_at + self.cooldown_seconds - now)
        return wait

    @property
    def paused(self) -> bool:
        """A 429 (or 408 with Retry-After) holds the connection back right now."""
        return self.paused_until > self.clock()

    def free_slots(self) -> int:
        if self.wait_seconds() > 0:
            return 0
        if self.state is BreakerState.HALF_OPEN:
            return 0 if self.probing else 1
        return max(0, min(self.window, self.limits.max_in_flight) - self.in_flight)

    def try_reserve(self, *, force: bool = False) -> bool:
        """Take a slot when one is free; `force` ignores the breaker and pause (not the cap)."""
        if force and self.in_flight < self.limits.max_in_flight:
            self.in_flight += 1
            return True
        if self.free_slots() <= 0:
            return False
        if self.state is BreakerState.HALF_OPEN:
            self.probing = True
        self.in_flight += 1
        return True

    async def reserve(self, timeout: float, *, force: bool = False) -> bool:
        """Take a slot, waiting up to `timeout` for one to free up; False at once while the breaker
        is open or the connection paused (unless `force`)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.try_reserve(force=force):
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0 or (self.wait_seconds() > 0 and not force):
                return False
            self._freed.clear()
            try:
                async with asyncio.timeout(remaining):
                    await self._freed.wait()
            except TimeoutError:
                return False
        return True

    def release(self) -> None:
        self.in_flight = max(0, self.in_flight - 1)
        self._freed.set()

    def unreserve(self) -> None:
        """Give back a slot that was reserved but not used (a probe slot included)."""
        self.release()
        self.probing = False

    async def admit(self, timeout: float) -> None:
        """Just before a request leaves: not while paused, and only while fewer requests are out than
        the window allows (after a pause: the probe alone until its outcome is known). Waits up to
        `timeout` for the window; raises `HeldBack` when the request may not go."""
        if not self._may_send():  # (the usual case goes at once: no wait, no timer)
            try:
                async with asyncio.timeout(timeout):
                    while not self._may_send():
                        await self._changed.wait()
            except TimeoutError:
                raise HeldBack(
                    f"{self.provider.value} is recovering from a 429; the write waits for the slow start.",
                    provider=self.provider,
                ) from None  # fmt: skip
        self.sending += 1

    def _may_send(self) -> bool:
        """Fewer requests out than the window allows; `HeldBack` while paused."""
        self._hold_while_paused()
        return self.sending < min(self.window, self.limits.max_in_flight)

    def _hold_while_paused(self) -> None:
        wait = self.paused_until - self.clock()
        if wait > 0:
            raise HeldBack(
                f"{self.provider.value} asked us to slow down (429); the write is queued.",
                provider=self.provider, retry_after=wait,
            )  # fmt: skip

    def _change(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def run(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run `call` in a reserved slot within the whole-call timeout, once admitted (`admit`, up to
        the whole-call timeout); the slot is released after. `HeldBack`: nothing was sent."""
        try:
            await self.admit(self.limits.call)
        except BaseException:
            self.unreserve()
            raise
        try:
            async with asyncio.timeout(self.limits.call):
                result = await call()
        except TimeoutError:
            self._failed(None)
            error = ProviderUnavailableError(
                f"{self.provider.value} did not answer within {self.limits.call:g} s", provider=self.provider
            )
            error.ambiguous = True  # the request may be with the provider still
            raise error from None
        except DomainError as error:
            self._failed(error)
            raise
        except BaseException:
            self.probing = False
            raise
        else:
            self._succeeded()
            return result
        finally:
            self.sending -= 1
            self._change()
            self.release()

    async def bounded(self, call: Awaitable[T]) -> T:
        """A read outside the slots (reconciling), within the whole-call timeout."""
        try:
            async with asyncio.timeout(self.limits.call):
                return await call
        except TimeoutError:
            raise ProviderUnavailableError(
                f"{self.provider.value} did not answer within {self.limits.call:g} s", provider=self.provider
            ) from None

    def _succeeded(self) -> None:
        self.failures, self.opened_at, self.probing = 0, None, False
        self.window = min(self.limits.max_in_flight, self.window + 1)

    def _failed(self, error: DomainError | None) -> None:
        self.probing = False
        if isinstance(error, ProviderRateLimitedError):
            self.paused_until = max(self.paused_until, self.clock() + (error.retry_after or 1.0))
            self.window = 1  # after the pause: one probe first, then slow start
            self._change()  # whoever waits to be admitted is held back now
            return
        if error is not None and not error.retryable:
            self._succeeded()  # the provider answered: it is up
            return
        self.failures += 1
        if self.opened_at is not None or self.failures >= self.failure_threshold:
            self.opened_at = self.clock()  # open, or open again after a failed probe
