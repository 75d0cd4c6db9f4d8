"""Builders of orders and results for the store tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from providers.models import (
    AssessmentOrder,
    AssessmentResult,
    Candidate,
    Delivery,
    DeliveryState,
    OrderRef,
    OrderStatus,
    Package,
    ProviderName,
    ResultUpdate,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def make_order(
    order_id: str,
    *,
    connection_id: str = "conn-a",
    provider: ProviderName = ProviderName.KOMBO,
    status: OrderStatus = OrderStatus.OPEN,
    package: str | None = "pkg-1",
    candidate: Candidate | None = None,
    created: datetime | None = T0,
    updated: datetime | None = None,
) -> AssessmentOrder:
    return AssessmentOrder(
        connection_id=connection_id,
        provider=provider,
        provider_order_id=order_id,
        status=status,
        package=Package(id=package) if package else None,
        candidate=candidate or Candidate(),
        created_at=created,
        updated_at=updated,
    )


def ref_of(order: AssessmentOrder) -> OrderRef:
    return OrderRef(order.connection_id, order.provider_order_id)


def make_result(
    result_id: str,
    submitted: datetime = T0,
    *,
    status: OrderStatus = OrderStatus.COMPLETED,
    key: str | None = None,
) -> AssessmentResult:
    return AssessmentResult(
        id=result_id,
        update=ResultUpdate(status=status, summary=f"summary of {result_id}", idempotency_key=key),
        submitted_at=submitted,
        delivery=Delivery(state=DeliveryState.PENDING, updated_at=submitted),
    )
