"""The per-request GraphQL context: the application context plus request-scoped loaders."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from strawberry.dataloader import DataLoader

from providers.models import AssessmentOrder, AssessmentResult, OrderRef
from resolvers.context import AppContext
from resolvers.live import StreamSignals
from resolvers.orders import load_orders, load_results


@dataclass
class GraphQLContext:
    """The loaders are made on first use: most requests (a page of orders, a mutation) need none."""

    app: AppContext
    request: Any = None
    response: Any = None
    document: Any = None  # the edge's parsed and validated DocumentNode, run as it is
    signals: StreamSignals | None = None  # a subscription's transport: told when it is live, when it lags

    @cached_property
    def orders(self) -> DataLoader[str, AssessmentOrder]:
        return DataLoader(lambda ids: load_orders(self.app, ids))  # type: ignore[arg-type,return-value]

    @cached_property
    def results(self) -> DataLoader[OrderRef, AssessmentResult | None]:
        return DataLoader(lambda refs: load_results(self.app, refs))
