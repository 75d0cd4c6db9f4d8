"""Merging a delivered result into the stored order."""

from __future__ import annotations

from datetime import datetime

from providers.models import AssessmentOrder, ResultUpdate
from providers.protocol import PreparedWrite, WriteOutcome


def merge_delivered(
    order: AssessmentOrder,
    update: ResultUpdate,
    prepared: PreparedWrite,
    outcome: WriteOutcome,
    now: datetime,
) -> AssessmentOrder:
    """The order as the provider now holds it.

    When the provider returned its order (Unified.to) that answer wins for every field it
    carries; otherwise the status moves to what the write set.
    """
    if outcome.order is not None:
        returned = outcome.order
        return order.model_copy(
            update={
                "status": returned.status,
                "provider_status": returned.provider_status,
                "raw": {**order.raw, **returned.raw},
                "updated_at": returned.updated_at or now,
            }
        )
    return order.model_copy(
        update={
            "status": prepared.status or update.status,
            "provider_status": prepared.provider_status or order.provider_status,
            "updated_at": now,
        }
    )
