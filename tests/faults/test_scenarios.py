"""Fault scenarios with real processes, a fake provider over loopback and a PostgreSQL cluster of the
test's own, with a busy loop per core beside them: for every order nothing is lost, no two writes
overlap, the provider ends on the newest result, nothing is FAILED, every repeat is counted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.delivery.own_cluster import OwnCluster, require_tools
from tests.faults.harness import harness, starved
from tests.faults.scenarios import REDUCED, SCENARIOS

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def cluster() -> Iterator[OwnCluster]:
    require_tools()
    own = OwnCluster()
    try:
        own.init().start()
        yield own
    finally:
        own.remove()


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_scenario_keeps_every_order_on_a_starved_machine(cluster: OwnCluster, tmp_path: Path, name: str) -> None:
    # a busy loop per core beside the service (the idle runs are in bench/fault_scenarios.py)
    async with harness(cluster, tmp_path) as world:
        with starved(True):
            outcome = await SCENARIOS[name](world, REDUCED)
    figures = outcome.figures
    # Kept on every run: no overlap, nothing FAILED, no INTERNAL_SERVER_ERROR, every repeat counted.
    assert (figures.overlaps, figures.failed, figures.internal_errors, figures.unseen_duplicates) == (0, 0, 0, 0), (
        outcome.explain()
    )
    assert figures.results >= figures.orders > 0 and figures.applications >= figures.orders
    if name == "429 storm":
        assert not [a for a in outcome.answers if a.endswith("PROVIDER_UNAVAILABLE")], outcome.explain()
    # Every order ends on its newest result, nothing older is applied after a newer one, and after a
    # 429 at most two writes arrive within 100 ms (the probe, then the slow start).
    if name == "429 storm":
        assert figures.max_burst is not None and figures.max_burst <= 2, outcome.explain()
    assert outcome.problems == [], outcome.explain()
