"""Two `python app.py` instances on one fresh PostgreSQL database, over real sockets with real clients
(graphql-ws and graphql-sse from Node): what happens on instance A reaches subscribers on instance B
(through LISTEN/NOTIFY), in order, once each, and only for the connections each client may read."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.delivery.processes import start_service
from tests.interop.test_gateways import node_or_skip
from tests.live.test_live_clients import WRITE, Subscriber, an_order, config, cursor_now, events_of, gql
from tests.store.conftest import fresh_pg_database

pytestmark = pytest.mark.postgres
KINDS = {"kinds": ["ORDER_RECEIVED", "RESULT_RECORDED", "DELIVERY_CHANGED"]}


def new_order(base: str, provider: str) -> str:
    response = httpx.post(f"{base}/sandbox/{provider}/_sandbox/orders", json={}, timeout=30)
    assert response.status_code == 201 and response.json()["webhook_status"] == 200, response.text
    return str(response.json()["order"]["id"])


async def test_events_on_one_instance_reach_subscribers_on_the_other(tmp_path: Path) -> None:
    node_or_skip()
    async with fresh_pg_database("live_instances") as url:
        a_dir, b_dir = tmp_path / "a", tmp_path / "b"
        a_dir.mkdir(), b_dir.mkdir()
        a = await start_service(Path(config(a_dir, url)), a_dir / "service.log")  # migrates first
        b = await start_service(Path(config(b_dir, url)), b_dir / "service.log")
        try:
            # given subscribers on instance B from now on: one per transport with every connection,
            # and one of a client that may read the Kombo connection only
            after = cursor_now(b.url)
            everything = [Subscriber(b.url, t, {"after": after, "filter": KINDS}, "all", count=4) for t in ("ws", "sse")]
            kombo_only = Subscriber(b.url, "ws", {"after": cursor_now(b.url, "kombo"), "filter": KINDS}, "kombo", count=1)
            # when on instance A a Unified.to order arrives by signed webhook, a result is written to a
            # StackOne order (recorded, then delivered), and last a Kombo order arrives
            new_order(a.url, "unified_to")
            stackone = an_order(a.url, "STACKONE")
            written = gql(a.url, WRITE, {"id": stackone})
            assert written["data"]["updateAssessmentResult"]["delivery"]["state"] == "DELIVERED", written
            new_order(a.url, "kombo")
            # then both of B's full subscribers get the four events, in that order, once each
            for subscriber in everything:
                events = events_of(await asyncio.to_thread(subscriber.lines))
                assert [(e["kind"], e["order"]["provider"]) for e in events] == [
                    ("ORDER_RECEIVED", "UNIFIED_TO"), ("RESULT_RECORDED", "STACKONE"),
                    ("DELIVERY_CHANGED", "STACKONE"), ("ORDER_RECEIVED", "KOMBO"),
                ]  # fmt: skip
                assert events[1]["order"]["id"] == events[2]["order"]["id"] == stackone
                assert events[2]["order"]["status"] == "COMPLETED"
                assert len({e["cursor"] for e in events}) == 4
            # and the Kombo-only client saw none of the others: its first event is the Kombo order
            [only] = events_of(await asyncio.to_thread(kombo_only.lines))
            assert (only["kind"], only["order"]["connection"]["id"]) == ("ORDER_RECEIVED", "sandbox-kombo")
        finally:
            stopped = [a.stop(), b.stop()]
        assert stopped == [True, True], (a_dir / "service.log").read_text()[-2000:]
