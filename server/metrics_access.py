"""Who may scrape `/metrics`: clients from allowed networks (loopback by default) or with the bearer token."""

from __future__ import annotations

import hmac
import ipaddress

from pydantic import BaseModel, ConfigDict, field_validator

LOOPBACK = ("127.0.0.0/8", "::1/128")


class MetricsAccess(BaseModel):
    """The `[metrics]` settings section."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    # Networks (CIDR) whose clients may scrape without a token; [] admits none by address.
    allow: tuple[str, ...] = LOOPBACK
    # `Authorization: Bearer <token>` admits any client; `env:NAME` reads it from the environment.
    bearer_token: str | None = None

    @field_validator("allow")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for network in value:
            ipaddress.ip_network(network, strict=False)  # ValueError -> a settings problem
        return value

    def admits(self, client_host: str | None, authorization: str | None) -> bool:
        if not self.enabled:
            return False
        if self.bearer_token and authorization is not None:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.bearer_token.encode()):
                return True
        if client_host is None:
            return False
        try:
            address = ipaddress.ip_address(client_host)
        except ValueError:
            return False
        return any(address in ipaddress.ip_network(n, strict=False) for n in self.allow)
