"""A configured connection: one tenant of one provider, with its credentials and tenant selector."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from providers.models import ProviderName


class Connection(BaseModel):
    """Everything an adapter needs to address one tenant. Credentials are already resolved."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    provider: ProviderName
    base_url: str
    api_key: str
    # Tenant selectors: StackOne `account_id`, Kombo `integration_id`,
    # Unified.to `connection_id` + `workspace_id`.
    account_id: str | None = None
    integration_id: str | None = None
    connection_id: str | None = None
    workspace_id: str | None = None
    webhook_secret: str | None = None
    # StackOne's signature header name and digest encoding are configurable (defaults in
    # providers/stackone/webhooks.py); Unified.to's `sig` encoding likewise.
    webhook_signature_header: str | None = None
    webhook_signature_encoding: str | None = None  # "base64url" | "base64" | "hex"
    # The package ids the vendor offers here; an order for another package is refused.
    package_ids: tuple[str, ...] | None = None
    # Kombo only: seconds between background order syncs (0 turns the poller off).
    sync_interval_seconds: float = 300.0
    # StackOne only: ask for keep-alive newline heartbeats (`Prefer: heartbeat`).
    prefer_heartbeat: bool = False
    # Served by the in-process sandbox instead of the network.
    sandbox: bool = False
    # Timeouts (seconds) and the cap on writes in flight; None takes the provider's default
    # (providers/guard.py DEFAULT_LIMITS, documented in docs/delivery.md).
    timeout_seconds: float | None = None  # the whole call
    connect_timeout_seconds: float | None = None
    read_timeout_seconds: float | None = None
    max_in_flight: int | None = None  # per instance
    # After an outcome that could not be seen, nothing is sent for the order for this long (seconds);
    # None takes the provider's documented maximum processing time (DEFAULT_LIMITS).
    quarantine_seconds: float | None = None
