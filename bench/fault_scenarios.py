"""Fault scenarios as a table: duplicates, overlaps, time to recover, per scenario, idle and starved.

    .venv/bin/python -m bench.fault_scenarios [--full] [--only NAME] [--starved|--idle]

Real `python app.py` processes, a fake StackOne-shaped provider on a loopback port and a PostgreSQL
cluster of the benchmark's own (initdb into a temp dir, PG_BIN names PostgreSQL's bin
directory, default /usr/lib/postgresql/15/bin). `--full` runs 300 orders x 2 results with a 2 s
provider latency and an 8 s store outage (the test suite runs the reduced size, starved only: 20 orders x
2, 1 s, 4 s). "starved" runs a busy-loop process per core beside the service. Exit status 1 when any
scenario broke a property (the problems are printed under the table).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from tests.delivery.own_cluster import OwnCluster, missing_tools
from tests.faults.harness import harness, starved
from tests.faults.report import Outcome
from tests.faults.scenarios import FULL, REDUCED, SCENARIOS, Size

COLUMNS = ("scenario", "CPU", "orders", "results", "writes", "duplicates", "unseen", "overlaps",
           "out of order", "lost", "FAILED", "500s", "recover s", "429 burst")  # fmt: skip


def row(name: str, starve: bool, outcome: Outcome) -> list[str]:
    f = outcome.figures
    recover = f"{f.recover_seconds:.1f}" if f.recover_seconds is not None else "never"
    burst = "" if f.max_burst is None else str(f.max_burst)
    values = (f.orders, f.results, f.writes, f.duplicates, f.unseen_duplicates, f.overlaps, f.out_of_order,
              f.lost, f.failed, f.internal_errors)  # fmt: skip
    return [name, "starved" if starve else "idle", *map(str, values), recover, burst]


async def run(size: Size, names: list[str], modes: list[bool]) -> int:
    cluster = OwnCluster()
    broken: list[str] = []
    print("| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS), flush=True)
    try:
        cluster.init().start()
        for name in names:
            for starve in modes:
                with tempfile.TemporaryDirectory() as tmp:
                    async with harness(cluster, Path(tmp)) as world:
                        with starved(starve):
                            outcome = await SCENARIOS[name](world, size)
                print("| " + " | ".join(row(name, starve, outcome)) + " |", flush=True)
                broken += [f"{name} ({'starved' if starve else 'idle'}): {p}" for p in outcome.problems[:5]]
    finally:
        cluster.remove()
    if broken:
        print("\nproblems:\n" + "\n".join(broken))
    return 1 if broken else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="full sizes (300 orders x 2 results)")
    parser.add_argument("--only", choices=list(SCENARIOS), action="append", help="run only this scenario")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--starved", action="store_true", help="only with a busy loop per core")
    mode.add_argument("--idle", action="store_true", help="only without busy loops")
    args = parser.parse_args()
    reason = missing_tools()
    if reason:
        sys.exit(f"cannot run: {reason}")
    modes = [True] if args.starved else [False] if args.idle else [False, True]
    sys.exit(asyncio.run(run(FULL if args.full else REDUCED, args.only or list(SCENARIOS), modes)))


if __name__ == "__main__":
    main()
