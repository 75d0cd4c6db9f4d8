"""The per-request GraphQL context: the application context plus request-scoped loaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from strawberry.dataloader import DataLoader

from providers.models import AssessmentOrder, AssessmentResult, OrderRef
from resolvers.context import AppContext
from resolvers.orders import load_orders, load_results


@dataclass
class GraphQLContext:
    app: AppContext
    request: Any = None
    response: Any = None
    document: Any = None  # the edge's parsed and validated DocumentNode, run as it is
    orders: DataLoader[str, AssessmentOrder] = field(init=False)
    results: DataLoader[OrderRef, AssessmentResult | None] = field(init=False)

    def __post_init__(self) -> None:
        self.orders = DataLoader(lambda ids: load_orders(self.app, ids))  # type: ignore[arg-type,return-value]
        self.results = DataLoader(lambda refs: load_results(self.app, refs))
