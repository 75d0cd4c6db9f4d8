"""What `updateAssessmentResult` answers is on disk when it answers (SQLite file, docs/operations.md
"SQLite durability"): the result is committed before its provider is called, without waiting for the
disk; an answer that says the result is kept here to be sent (retrying, unconfirmed, failed, queued)
leaves only once it is synced, and a result that replaced older waiting ones is synced before it is
sent. Only a delivered answer may leave first (the provider has the result; the store syncs it within
its window)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

import store.sqlite_writes
from app import Services
from providers.errors import ErrorCode
from providers.models import Delivery, DeliveryState
from sandbox import Sandboxes
from store import SqlStore, create_store
from store.interface import DeliveryClaim
from tests.conftest import GraphQLClient
from tests.store.store_samples import T0, make_order, make_result, ref_of
from tests.test_graphql_results import find_order, refuse_kombo_key

WRITE = """
mutation($input: UpdateAssessmentResultInput!) {
  updateAssessmentResult(input: $input) { delivery { state errorCode } }
}
"""


@pytest.fixture(autouse=True)
def no_window_sync(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The window's own sync (`SYNC_WITHIN` after a commit) is pushed out of every test here, so what is synced
    was synced by the write or the answer itself."""
    monkeypatch.setattr(store.sqlite_writes, "SYNC_WITHIN", 3600.0)
    yield


def _input(order_id: str, summary: str) -> dict[str, Any]:
    return {"orderId": order_id, "status": "COMPLETED", "score": {"value": 7, "max": 10}, "summary": summary,
            "resultUrl": "https://v.example/r/7", "completedAt": "2026-11-01T10:00:00Z"}  # fmt: skip


def _unsynced(services: Services) -> int:
    writer = services.store.writer  # type: ignore[attr-defined]
    assert writer is not None, "a SQLite file: writes go through the inline writer"
    return int(writer.unsynced)


async def test_a_delivered_answer_does_not_wait_for_the_disk(gql: GraphQLClient, services: Services) -> None:
    order = await find_order(gql, "STACKONE")
    assert _unsynced(services) == 0
    # when a result is written and the provider takes it
    body = await gql(WRITE, {"input": _input(order["id"], "delivered")})
    # then the answer is DELIVERED while the record and its outcome are committed but not yet synced
    assert body["data"]["updateAssessmentResult"]["delivery"]["state"] == "DELIVERED", body
    assert _unsynced(services) == 2
    # and they are on disk once anyone asks (the window's sync does the same)
    await services.store.on_disk()
    assert _unsynced(services) == 0


@pytest.fixture(params=["events on", "events off"])
def events(request: pytest.FixtureRequest, services: Services) -> str:
    """With the live-event hub (the outcome's event is then a durable commit of its own, which syncs
    too) and without it: the answer itself makes sure, whatever else syncs."""
    if request.param == "events off":
        services.context.events = None
    return str(request.param)


@pytest.mark.parametrize(
    ("switches", "state"),
    [({"rate_503": 1}, "RETRYING"), ({"rate_lost_answer": 1}, "UNCONFIRMED")],
    ids=["retrying", "unconfirmed"],
)
async def test_an_answer_that_keeps_the_result_to_send_leaves_only_once_it_is_on_disk(
    gql: GraphQLClient, services: Services, control: httpx.AsyncClient, events: str, switches: dict[str, Any],
    state: str,
) -> None:  # fmt: skip
    order = await find_order(gql, "STACKONE")
    # given the provider failing the write (or taking it and losing the answer)
    assert (await control.post("/stackone/_sandbox/faults", json=switches)).status_code == 200
    # when a result is written
    body = await gql(WRITE, {"input": _input(order["id"], state)})
    # then the answer says it is kept to be sent, and everything it rests on is on disk
    assert body["data"]["updateAssessmentResult"]["delivery"]["state"] == state, body
    assert _unsynced(services) == 0


async def test_a_pending_answer_past_the_deadline_leaves_only_once_the_result_is_on_disk(
    gql: GraphQLClient, services: Services, control: httpx.AsyncClient, events: str
) -> None:
    order = await find_order(gql, "STACKONE")
    # given a provider slower than the mutation's deadline
    dispatch = services.context.dispatch
    dispatch.policy = dispatch.policy.model_copy(update={"mutation_deadline_seconds": 0.2})
    assert (await control.post("/stackone/_sandbox/faults", json={"latency_ms": [1500, 1500]})).status_code == 200
    # when a result is written, the answer is PENDING (the attempt goes on), with the result on disk
    body = await gql(WRITE, {"input": _input(order["id"], "slow")})
    assert body["data"]["updateAssessmentResult"]["delivery"]["state"] == "PENDING", body
    assert _unsynced(services) == 0


async def test_an_error_answer_leaves_only_once_the_failed_result_is_on_disk(
    gql: GraphQLClient, services: Services, sandboxes: Sandboxes, events: str
) -> None:
    # given a Kombo connection whose key the provider refuses (a permanent failure)
    refuse_kombo_key(services, sandboxes)
    order = await find_order(gql, "KOMBO")
    # when a result is written, then the error is answered with the FAILED result on disk
    body = await gql(WRITE, {"input": _input(order["id"], "refused")})
    assert body["errors"][0]["extensions"]["code"] == ErrorCode.PROVIDER_AUTH_FAILED, body
    assert _unsynced(services) == 0


# ----------------------------------------------------------------------------- the store's side


@pytest.fixture
async def file_store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    opened = create_store(f"sqlite+aiosqlite:///{tmp_path / 'record.db'}")
    await opened.migrate()
    yield opened
    await opened.close()


def _claim(at: float = 0) -> DeliveryClaim:
    now = T0 + timedelta(seconds=at)
    return DeliveryClaim(holder="A", now=now, lease_until=now + timedelta(seconds=30))


def _pending(result_id: str, at: float = 0) -> Any:
    now = T0 + timedelta(seconds=at)
    pending = Delivery(state=DeliveryState.PENDING, updated_at=now, next_attempt_at=now)
    return make_result(result_id, now).model_copy(update={"delivery": pending})


async def test_a_record_waits_for_the_disk_unless_its_request_leaves_now_and_it_replaced_nothing(
    file_store: SqlStore,
) -> None:
    writer = file_store.writer
    assert writer is not None
    order = make_order("o-record")
    await file_store.upsert_order(order)
    ref = ref_of(order)
    # a result whose request leaves now, with nothing older waiting: committed, not yet synced
    token = await file_store.record_delivery(ref, _pending("r-1"), {}, {"body": {}}, _claim(), begin_send=True, durable=False)
    assert token is not None and writer.unsynced == 1
    await file_store.on_disk()
    assert writer.unsynced == 0
    # one recorded while the order's lease is held (its request cannot leave now): synced before it returns
    queued = await file_store.record_delivery(ref, _pending("r-2", 1), {}, {"body": {}}, _claim(1), begin_send=True, durable=False)
    assert queued is None and writer.unsynced == 0
    # (and stored as it was given: not claimed, no send counted, waiting for the deliverer)
    waiting = await file_store.get_delivery("r-2", T0)
    assert waiting is not None and waiting.claimed_by is None and waiting.token is None
    assert waiting.result.delivery.sends == 0 and waiting.result.delivery.state is DeliveryState.PENDING
    # one recorded without a claim (it waits for the deliverer): synced
    assert await file_store.record_delivery(ref, _pending("r-3", 2), {}, {"body": {}}, None, durable=False) is None
    assert writer.unsynced == 0
    # one that replaces older waiting results (r-2 and r-3): synced before it returns, so a power loss
    # can never bring the older ones back to be sent after it
    done = Delivery(state=DeliveryState.DELIVERED, attempts=1, sends=1, updated_at=T0, provider_status_code=200)
    await file_store.finish_attempt(ref, "r-1", done, None, "A", token)  # (the lease is free again)
    await file_store.on_disk()
    newest = await file_store.record_delivery(ref, _pending("r-4", 3), {}, {"body": {}}, _claim(3), begin_send=True, durable=False)
    assert newest is not None and writer.unsynced == 0
    for older in ("r-2", "r-3"):
        stored = await file_store.get_delivery(older, T0)
        assert stored is not None and stored.result.delivery.state is DeliveryState.SUPERSEDED
