"""Group commit: concurrent writes share commits; a failing write fails alone; same keys never share a group."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from resolvers.group_commit import GroupCommit


class Log:
    def __init__(self) -> None:
        self.groups: list[list[str]] = []

    async def write(self, items: Sequence[str]) -> list[str]:
        await asyncio.sleep(0.01)  # a commit takes time: writes arriving meanwhile queue up
        if "bad" in items:
            raise RuntimeError("constraint failed")
        self.groups.append(list(items))
        return [f"ok:{item}" for item in items]


async def test_writes_arriving_during_a_commit_share_the_next() -> None:
    # given a group commit whose write takes a moment
    log = Log()
    commit = GroupCommit(log.write, lambda item: [item])
    first = asyncio.create_task(commit.submit("w0"))
    await asyncio.sleep(0)  # its commit has started
    # when five more writes arrive meanwhile
    answers = await asyncio.gather(*(commit.submit(f"w{i}") for i in range(1, 6)))
    # then each is answered with its own result, and the five share one commit
    assert await first == "ok:w0"
    assert answers == [f"ok:w{i}" for i in range(1, 6)]
    assert log.groups == [["w0"], ["w1", "w2", "w3", "w4", "w5"]]


async def test_a_failing_write_fails_alone() -> None:
    # given a group that contains one write the store refuses
    log = Log()
    commit = GroupCommit(log.write, lambda item: [item])
    first = asyncio.create_task(commit.submit("first"))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(commit.submit(item)) for item in ("a", "bad", "b")]
    # when they are committed
    await first
    results = await asyncio.gather(*rest, return_exceptions=True)
    # then the others are committed (one by one after the group failed) and only the bad one fails
    assert results[0] == "ok:a" and results[2] == "ok:b"
    assert isinstance(results[1], RuntimeError)
    assert ["a"] in log.groups and ["b"] in log.groups


async def test_writes_on_the_same_key_never_share_a_group() -> None:
    # given writes of which two touch the same order
    log = Log()
    commit = GroupCommit(log.write, lambda item: [item.split(":")[0]])
    first = asyncio.create_task(commit.submit("o1:first"))
    await asyncio.sleep(0)
    # when they queue behind a commit in progress
    later = await asyncio.gather(*(commit.submit(item) for item in ("o2:x", "o2:again", "o3:y", "o2:third")))
    await first
    # then each write on o2 waits for the commit of the one before it (o3 does not wait)
    assert later == ["ok:o2:x", "ok:o2:again", "ok:o3:y", "ok:o2:third"]
    assert log.groups == [["o1:first"], ["o2:x", "o3:y"], ["o2:again"], ["o2:third"]]


@pytest.mark.parametrize("_case", ["cancelled caller"])
async def test_a_caller_that_goes_away_does_not_cancel_the_others(_case: str) -> None:
    log = Log()
    commit = GroupCommit(log.write, lambda item: [item])
    gone = asyncio.create_task(commit.submit("gone"))
    stays = asyncio.create_task(commit.submit("stays"))
    await asyncio.sleep(0)
    gone.cancel()
    assert await stays == "ok:stays"
    assert ["gone", "stays"] in log.groups or ["gone"] in log.groups
