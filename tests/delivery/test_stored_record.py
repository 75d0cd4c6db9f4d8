"""One bad row never fails a pass (SQLite and PostgreSQL): a due delivery whose stored record no
longer decodes is marked FAILED with STORED_RECORD_INVALID, and the others are claimed as usual."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from providers.errors import ErrorCode
from providers.models import Delivery, DeliveryState
from store import SqlStore
from store.interface import DeliveryClaim
from store.tables import results
from tests.store.conftest import store, store_url  # noqa: F401  (fixtures)
from tests.store.store_samples import T0, make_order, make_result, ref_of


async def test_an_undecodable_delivery_is_failed_and_the_others_go_on(store: SqlStore) -> None:  # noqa: F811
    pending = Delivery(state=DeliveryState.PENDING, updated_at=T0, next_attempt_at=T0)
    for n in (1, 2):
        order = make_order(f"o-{n}")
        await store.upsert_order(order)
        result = make_result(f"r-{n}").model_copy(update={"delivery": pending})
        await store.record_delivery(ref_of(order), result, {}, {"body": {}}, None)
    # given r-1's stored result no longer decodes (a score that is not a number)
    async with store.engine.begin() as conn:
        await conn.execute(update(results).where(results.c.id == "r-1").values(data='{"id": "r-1", "update": 7}'))
    # when the deliverer claims what is due
    claim = DeliveryClaim(holder="A", now=T0, lease_until=T0 + timedelta(seconds=30))
    taken = await store.claim_due(claim, {"conn-a": 5}, 5)
    # then the good one is claimed, the bad one is FAILED with a code and no longer due
    assert [r.result.id for r in taken] == ["r-2"]
    async with store.engine.connect() as conn:
        row = (await conn.execute(results.select().where(results.c.id == "r-1"))).one()
    failed = Delivery.model_validate_json(row.delivery)
    assert (failed.state, failed.error_code) == (DeliveryState.FAILED, ErrorCode.STORED_RECORD_INVALID)
    later = DeliveryClaim(holder="B", now=T0 + timedelta(seconds=60), lease_until=T0 + timedelta(seconds=90))
    assert [r.result.id for r in await store.claim_due(later, {"conn-a": 5}, 5)] == ["r-2"]  # r-2's lease expired
