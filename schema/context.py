"""The per-request GraphQL context: the application context plus request-scoped loaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from strawberry.dataloader import DataLoader

from providers.models import AssessmentOrder, AssessmentResult, OrderRef
from resolvers.context import AppContext
from resolvers.live import StreamSignals
from resolvers.orders import load_orders, load_results


@dataclass
class GraphQLContext:
    app: AppContext
    request: Any = None
    response: Any = None
    document: Any = None  # the edge's parsed and validated DocumentNode, run as it is
    signals: StreamSignals | None = None  # a subscription's transport: told when it is live, when it lags
    orders: DataLoader[str, AssessmentOrder] = field(init=False)
    results: DataLoader[OrderRef, AssessmentResult | None] = field(init=False)

    def __post_init__(self) -> None:
        self.orders = DataLoader(lambda ids: load_orders(self.app, ids))  # type: ignore[arg-type,return-value]
        self.results = DataLoader(lambda refs: load_results(self.app, refs))
