"""The edge's policy for one request: who may run what (scopes, introspection, federation), and limits."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from providers.errors import ErrorCode
from server.clients import Authenticator, Principal, RateLimiter
from server.documents import DocumentPreparer, Operation, Prepared, root_field_scopes
from server.errors import RequestError
from server.limits import check_cost, check_shape, cost_model
from server.persisted import PersistedQueries
from server.settings import Settings
from store import Store

PRODUCTION = "production"
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


class Edge:
    """Everything the GraphQL view consults before it executes an operation."""

    def __init__(self, settings: Settings, schema: Any, store: Callable[[], Store]) -> None:
        self.settings = settings
        self.schema = schema
        # With no clients configured the service is open, which settings allow in sandbox mode only.
        open_access = not settings.clients and (settings.sandbox or settings.auth.anonymous)
        self.authenticator = Authenticator(settings.auth, settings.clients, open_access=open_access)
        self.rate_limiter = RateLimiter()
        self.persisted = PersistedQueries(store)
        self.preparer = DocumentPreparer(schema._schema, max_tokens=settings.limits.max_tokens)
        self.scopes = root_field_scopes(schema)
        self.cost_model = cost_model(schema)

    @property
    def graphiql(self) -> bool:
        if self.settings.graphiql is not None:
            return self.settings.graphiql
        return self.settings.environment != PRODUCTION

    def can_introspect(self, principal: Principal) -> bool:
        configured = principal.client.introspection if principal.client is not None else None
        return configured if configured is not None else self.settings.environment != PRODUCTION

    def is_gateway(self, principal: Principal) -> bool:
        if principal.client is None:
            return self.settings.environment != PRODUCTION
        return principal.client.gateway

    def check_rate(self, principal: Principal) -> None:
        per_minute = principal.client.rate_limit_per_minute if principal.client else None
        per_minute = per_minute or self.settings.rate_limit_per_minute
        if per_minute:
            self.rate_limiter.check(principal.name, per_minute)

    def authorize(self, operation: Operation, principal: Principal) -> None:
        """Introspection and federation per environment and client; root-field scopes."""
        introspect = self.can_introspect(principal)
        federated = introspect or self.is_gateway(principal)
        if operation.introspection and not introspect:
            raise RequestError(ErrorCode.INTROSPECTION_DISABLED, "Introspection is disabled.", 400)
        if "_service" in operation.federation and not federated:
            raise RequestError(ErrorCode.INTROSPECTION_DISABLED, "Introspection is disabled.", 400)
        if "_entities" in operation.federation and not federated:
            raise RequestError(ErrorCode.FORBIDDEN, "Not allowed.", 403)
        root = {"mutation": "Mutation", "subscription": "Subscription"}.get(operation.type, "Query")
        for name in operation.root_fields:
            if not principal.has_scopes(self.scopes.get((root, name), ())):
                raise RequestError(ErrorCode.FORBIDDEN, "Not allowed.", 403)

    def check_limits(self, prepared: Prepared, operation: Operation, variables: Mapping[str, Any]) -> None:
        check_shape(operation, self.settings.limits)
        check_cost(self.schema._schema, self.cost_model, operation, prepared.fragments, variables, self.settings.limits,
                   prepared.memo)  # fmt: skip


def without_suggestions(message: str) -> str:
    """A message with graphql-core's "Did you mean ...?" hints removed."""
    return _SUGGESTION.sub("", message)
