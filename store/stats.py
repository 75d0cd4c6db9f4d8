"""Delivery figures for metrics: results per delivery state, and per connection the waiting queue."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from store.tables import results

WAITING = ("PENDING", "RETRYING")


class QueueStats(BaseModel):
    model_config = ConfigDict(frozen=True)

    waiting: int
    oldest_recorded_at: datetime | None


class DeliveryStats(BaseModel):
    """Results per delivery state (all connections) and the waiting queue per connection."""

    model_config = ConfigDict(frozen=True)

    by_state: dict[str, int]
    queues: dict[str, QueueStats]


async def delivery_stats(engine: AsyncEngine) -> DeliveryStats:
    """Two indexed aggregates (`ix_results_delivery_state`): cheap enough for every scrape."""
    by_state_stmt = select(results.c.delivery_state, func.count()).group_by(results.c.delivery_state)
    queue_stmt = (
        select(results.c.connection_id, func.count(), func.min(results.c.created_at))
        .where(results.c.delivery_state.in_(WAITING))
        .group_by(results.c.connection_id)
    )
    async with engine.connect() as conn:
        by_state = {str(state): int(count) for state, count in (await conn.execute(by_state_stmt)).all()}
        queues = {
            str(connection): QueueStats(waiting=int(count), oldest_recorded_at=oldest)
            for connection, count, oldest in (await conn.execute(queue_stmt)).all()
        }
    return DeliveryStats(by_state=by_state, queues=queues)
