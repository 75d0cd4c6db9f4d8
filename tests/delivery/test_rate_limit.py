"""Rate limits: while a 429 pauses a connection its queued writes say PROVIDER_RATE_LIMITED; when the
pause ends one probe write goes first, then the in-flight window grows by one per success (slow
start) up to the cap. Per-provider timeout defaults follow the providers' documented limits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from providers.connections import Connection
from providers.errors import ErrorCode, ProviderRateLimitedError
from providers.guard import DEFAULT_LIMITS, ConnectionGuard, HeldBack, Limits, limits_for
from providers.models import ProviderName
from tests.conftest import GraphQLClient
from tests.delivery.test_delivery_faults import WRITE, result_input
from tests.test_graphql_results import find_order


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def ok() -> str:
    return "ok"


async def refused() -> None:
    raise ProviderRateLimitedError("429", retry_after=5)


async def test_after_a_429_pause_one_probe_then_slow_start() -> None:
    clock = Clock()
    guard = ConnectionGuard(ProviderName.KOMBO, Limits(connect=1, read=1, call=1, max_in_flight=8), clock=clock)
    assert guard.free_slots() == 8
    # given a 429 with Retry-After 5 s
    assert guard.try_reserve()
    try:
        await guard.run(refused)
    except ProviderRateLimitedError:
        pass
    # then nothing goes during the pause
    assert guard.paused and guard.free_slots() == 0 and not guard.try_reserve()
    clock.now += 5
    # when the pause ends: one probe slot only
    assert not guard.paused and guard.free_slots() == 1
    assert guard.try_reserve() and guard.free_slots() == 0
    assert await guard.run(ok) == "ok"
    # then each success widens the window by one, never the whole cap at once
    windows = []
    for _ in range(8):
        windows.append(guard.free_slots())
        assert guard.try_reserve()
        await guard.run(ok)
    assert windows == [2, 3, 4, 5, 6, 7, 8, 8]


class Gate:
    """Calls that stay at the provider until the test opens the gate; counts them in flight."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.entered: list[int] = []  # how many were in flight as each one arrived
        self.in_flight = 0

    async def call(self) -> str:
        self.in_flight += 1
        self.entered.append(self.in_flight)
        try:
            await self.open.wait()
            return "ok"
        finally:
            self.in_flight -= 1


async def _until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):  # a bound, not a synchronisation: every step below is an event
        while not check():
            await asyncio.sleep(0)


async def test_slots_reserved_before_a_429_never_send_into_the_pause_nor_all_at_once_after_it() -> None:
    clock = Clock()
    guard = ConnectionGuard(ProviderName.STACKONE, Limits(connect=1, read=1, call=30, max_in_flight=8), clock=clock)
    # given four writes that reserved their slots while the window was wide open
    for _ in range(4):
        assert guard.try_reserve()
    # when the first one is refused with 429 (Retry-After 5 s) while the other three are still busy
    with pytest.raises(ProviderRateLimitedError):
        await guard.run(refused)
    # then during the pause none of the three reaches the provider: each is held back, nothing sent
    gate = Gate()
    for _ in range(3):
        with pytest.raises(HeldBack) as held:
            await guard.run(gate.call)
        assert held.value.retry_after == 5
    assert gate.entered == [] and guard.in_flight == 0
    # when the pause is over and three stale slots (reserved earlier, or forced) go at once
    clock.now += 5
    for _ in range(3):
        assert guard.try_reserve(force=True)
    runs = [asyncio.create_task(guard.run(gate.call)) for _ in range(3)]
    await _until(lambda: guard.sending == 1 and len(gate.entered) == 1)
    for _ in range(3):
        await asyncio.sleep(0)  # every other run had its turn: still one request out, the probe
    assert gate.entered == [1]
    # then the others wait for the probe's outcome; its success widens the window to two
    gate.open.set()
    assert await asyncio.gather(*runs) == ["ok"] * 3
    assert gate.entered[0] == 1 and max(gate.entered) <= 2 and guard.window == 4


async def test_a_429_while_writes_wait_for_the_slow_start_holds_them_back() -> None:
    clock = Clock()
    guard = ConnectionGuard(ProviderName.STACKONE, Limits(connect=1, read=1, call=30, max_in_flight=8), clock=clock)
    assert guard.try_reserve()
    with pytest.raises(ProviderRateLimitedError):
        await guard.run(refused)
    clock.now += 5
    # given the probe out and a second write waiting to be admitted
    probe_answer: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def probe() -> None:
        await probe_answer

    gate = Gate()
    for _ in range(2):
        assert guard.try_reserve(force=True)
    probing = asyncio.create_task(guard.run(probe))
    waiting = asyncio.create_task(guard.run(gate.call))
    await _until(lambda: guard.sending == 1)
    # when the probe is refused again
    probe_answer.set_exception(ProviderRateLimitedError("429", retry_after=5))
    with pytest.raises(ProviderRateLimitedError):
        await probing
    # then the waiting write is held back (not sent into the new pause)
    with pytest.raises(HeldBack):
        await waiting
    assert gate.entered == [] and guard.sending == 0 and guard.in_flight == 0


async def test_writes_queued_during_a_429_pause_say_rate_limited(
    dgql: GraphQLClient, control: httpx.AsyncClient
) -> None:
    first = await find_order(dgql, "STACKONE")
    # given StackOne answering 429 with a long Retry-After
    await control.post("/stackone/_sandbox/faults", json={"rate_429": 1, "retry_after": 30})
    paused = (await dgql(WRITE, {"input": result_input(first["id"], "429")}))["data"]["updateAssessmentResult"]
    assert paused["delivery"]["errorCode"] == ErrorCode.PROVIDER_RATE_LIMITED
    # when another write for the connection arrives during the pause
    body = await dgql(FIND_OTHER, {})
    second = next(e["node"] for e in body["data"]["assessmentOrders"]["edges"] if e["node"]["id"] != first["id"])
    queued = (await dgql(WRITE, {"input": result_input(second["id"], "queued")}))["data"]["updateAssessmentResult"]
    # then it is queued, and says why: rate limited (not "unavailable")
    assert queued["delivery"]["state"] == "PENDING"
    assert queued["delivery"]["errorCode"] == ErrorCode.PROVIDER_RATE_LIMITED
    assert queued["delivery"]["attempts"] == 0


FIND_OTHER = """
query { assessmentOrders(filter: {providers: [STACKONE], statuses: [OPEN]}, first: 5) { edges { node { id } } } }
"""


def test_timeout_defaults_follow_the_documented_limits() -> None:
    # StackOne's request lifetime is 60 s (then 408): the read timeout outlasts it, so a slow answer
    # within it is seen; the whole call covers connect + read; the quarantine is that maximum
    stackone = DEFAULT_LIMITS[ProviderName.STACKONE]
    assert stackone.read > 60 and stackone.call >= stackone.read and stackone.quarantine == 60
    for provider in ProviderName:
        limits = DEFAULT_LIMITS[provider]
        assert limits.call >= limits.read > limits.connect and limits.quarantine > 0
    base = Connection(id="s", provider=ProviderName.STACKONE, base_url="http://s", api_key="x")
    assert limits_for(base.model_copy(update={"quarantine_seconds": 5})).quarantine == 5
