"""GraphQL enums, each built from its single domain source of truth."""

from __future__ import annotations

import strawberry

from providers import models
from store import OrderSort

Provider = strawberry.enum(models.ProviderName, name="Provider", description="A unified-API provider.")
AssessmentStatus = strawberry.enum(
    models.OrderStatus,
    name="AssessmentStatus",
    description="One status vocabulary covering StackOne, Kombo and Unified.to.",
)
AssessmentOutcome = strawberry.enum(
    models.Outcome, name="AssessmentOutcome", description="The candidate's verdict, separate from status."
)
AttributeType = strawberry.enum(
    models.AttributeType, name="AttributeType", description="Kind of an additional result attribute."
)
DeliveryState = strawberry.enum(
    models.DeliveryState,
    name="DeliveryState",
    description="Where a result stands on its way to the provider.",
)
AssessmentOrderSort = strawberry.enum(
    OrderSort, name="AssessmentOrderSort", description="Ordering of an order list."
)
