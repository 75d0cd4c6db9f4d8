"""Who may call each root field: its scopes, enforced by the edge; the SDL's security directives are opt-in."""

from __future__ import annotations

from typing import Any

READ_ORDERS = "orders:read"
WRITE_RESULTS = "results:write"
SCOPES_KEY = "scopes"  # in a root field's metadata: the scopes the edge requires, as any-of groups


def access(scope: str, security_directives: bool) -> dict[str, Any]:
    """Keyword arguments of a root field: its scope as metadata, and `@authenticated` /
    `@requiresScopes` in the SDL when `security_directives` is on (a router may enforce them too;
    @apollo/gateway refuses them). The edge enforces the scope either way."""
    kwargs: dict[str, Any] = {"metadata": {SCOPES_KEY: ((scope,),)}}
    if security_directives:
        kwargs |= {"authenticated": True, "requires_scopes": [[scope]]}
    return kwargs
