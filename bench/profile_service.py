"""Where the service's time goes per path: py-spy samples `python app.py` while autocannon loads one path.

    .venv/bin/python -m bench.profile_service [--seconds 8] [--top 15] [--path NAME ...] [--db sqlite|postgres] [--raw FILE]

The same set-up as bench.vs_strawberry (fast provider, configured service, 100 orders by signed
webhooks). Prints, per path, the functions with the most samples on the CPU: self (the function
itself) and inclusive (the function and what it calls), as percentages of the path's samples. Only the
thread holding the GIL is sampled (`--gil`), so waiting on sockets, fsync or the database is not counted:
the figures are where the Python CPU time goes. Before each graphql path's profile, a run without the
profiler gives the service's CPU time per request (/proc/PID/stat utime + stime over the run).
py-spy is a separate install (`pip install py-spy`); it reads the process from outside.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath

import httpx

from bench.order_list import database
from bench.processes import ROOT, load, started
from bench.vs_strawberry import (
    API_KEY,
    CONNECTION,
    PLACEHOLDER,
    SECRET,
    cases,
    config,
    receive_orders,
    webhook_template,
)

WEBHOOKS = "signed webhooks, 4 in flight"


async def profile(backend: str, paths: list[str], seconds: float, top: int, raw: Path | None = None) -> None:
    async with database(backend, "bench_profile") as url:
        assert url is not None, "no database"
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            async with started(work, ["-m", "bench.fast_provider"]) as provider:
                (work / "gateway.toml").write_text(config(url, provider.url))
                env = {"GATEWAY_CONFIG": str(work / "gateway.toml")}
                async with started(work, [str(ROOT / "app.py")], env, health="/health") as service:
                    await run(service.url, service.process.pid, paths, seconds, top, work, raw)


async def run(
    base: str, pid: int, paths: list[str], seconds: float, top: int, work: Path, raw: Path | None = None
) -> None:
    headers = {"content-type": "application/json", "accept": "application/json", "x-api-key": API_KEY}
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        await receive_orders(http, 100)
        page = (await http.post("/graphql", content=cases("x")["page of 5 orders"], headers=headers)).json()
    bodies = cases(page["data"]["assessmentOrders"]["edges"][0]["node"]["id"])
    for name in paths:
        if name != WEBHOOKS:
            await cpu_per_request(base, pid, name, bodies[name], headers, seconds)
        out = work / "profile.txt"
        spy = await asyncio.create_subprocess_exec(
            shutil.which("py-spy") or str(Path(ROOT / ".venv/bin/py-spy")), "record", "--pid", str(pid),
            "--duration", str(int(seconds)), "--rate", "250", "--format", "raw", "--output", str(out), "--nonblocking", "--gil",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        if name == WEBHOOKS:
            sign = {"secret": SECRET, "header": "x-stackone-signature", "placeholder": PLACEHOLDER}
            await load(f"{base}/webhooks/{CONNECTION}", webhook_template(), headers, duration=seconds + 1,
                       connections=4, sign=sign)  # fmt: skip
        else:
            await load(f"{base}/graphql", bodies[name], headers, duration=seconds + 1)
        await spy.wait()
        summarize(name, out.read_text(), top)
        if raw is not None:
            raw.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(out, raw.with_name(f"{raw.stem}-{_slug(name)}{raw.suffix}"))


async def cpu_per_request(base: str, pid: int, name: str, body: str, headers: dict[str, str], seconds: float) -> None:
    """The service process's CPU time (utime + stime, every thread) per request over an autocannon run
    without the profiler attached: near the run's ms/request, the path is CPU-bound in the service."""
    before = _cpu_seconds(pid)
    figures = await load(f"{base}/graphql", body, headers, duration=seconds)
    used = _cpu_seconds(pid) - before
    print(f"\n{name}: {figures['requests']} requests, {figures['msPerRequest']:.3f} ms/request, "
          f"service CPU {1000 * used / figures['requests']:.3f} ms/request")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14, 15)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-")


def summarize(name: str, collapsed: str, top: int) -> None:
    """Self and inclusive sample shares per function from py-spy's collapsed stacks (idle excluded)."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = [_short(f) for f in stack.split(";") if f]
        if not frames or _idle(frames[-1]):
            continue
        count = int(count_text)
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    print(f"\n## {name}: {total} busy samples\n")
    print("| self % | function | | inclusive % | function |\n|---|---|---|---|---|")
    selfs, incs = own.most_common(top), [i for i in inclusive.most_common(top * 4) if not _frame_noise(i[0])][:top]
    for (fn_a, n_a), (fn_b, n_b) in zip(selfs, incs, strict=False):
        print(f"| {100 * n_a / total:.1f} | `{fn_a}` | | {100 * n_b / total:.1f} | `{fn_b}` |")


def _short(frame: str) -> str:
    """`function (path/to/module.py:line)` as `module.function`, path shortened to its package.

    Frames without a usable file (`<frozen runpy>`, `<string>`, an empty path) keep what they have."""
    function, _, where = frame.partition(" (")
    path = where.rpartition(":")[0] if ":" in where else where.rstrip(")")
    parts = [p.removesuffix(".py") for p in PurePosixPath(path).parts if p not in ("", "/", ".")]
    for anchor in ("site-packages", "python3.11", *ROOT.parts[-1:]):
        if anchor in parts:
            parts = parts[parts.index(anchor) + 1 :]
            break
    module = ".".join(parts[-2:])
    return f"{module}.{function}" if module else function


def _idle(frame: str) -> bool:
    return any(word in frame for word in ("select", "_run_once", "epoll", "run_forever")) and "selector" in frame


def _frame_noise(frame: str) -> bool:
    return any(word in frame for word in ("asyncio.", "uvloop", "runners.", "app.main", "uvicorn.main", "<module>",
                                          "server.serve", "server.run", "events._run"))  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--path", action="append", choices=[*cases("x"), WEBHOOKS])
    parser.add_argument("--raw", type=Path, help="keep py-spy's collapsed stacks as RAW-<path>.txt")
    args = parser.parse_args()
    asyncio.run(profile(args.db, args.path or [*cases("x"), WEBHOOKS], args.seconds, args.top, args.raw))
