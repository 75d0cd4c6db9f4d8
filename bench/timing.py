"""Timing helpers shared by the benchmarks: warmed-up samples in milliseconds and their percentiles."""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable


async def timed(call: Callable[[], Awaitable[None]], iterations: int, *, warmup: int = 10) -> list[float]:
    """`iterations` timings of `call` (ms), after up to `warmup` untimed calls."""
    for _ in range(min(warmup, iterations)):
        await call()
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def pct(samples: list[float], q: int) -> float:
    """The q-th percentile (1-99), inclusive method."""
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]
