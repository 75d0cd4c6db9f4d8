"""The provider contract: a structural Protocol over domain models."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from providers.connections import Connection
from providers.models import (
    AssessmentOrder,
    AssessmentResult,
    OrderStatus,
    ProviderName,
    ResultUpdate,
    TranslationWarning,
)


@dataclass(frozen=True)
class ParsedWebhook:
    """One verified webhook delivery, as every provider's `webhooks.parse_event` returns it: its
    dedupe key (redeliveries share it), its type and the orders it carries (none for deletions)."""

    event_key: str
    event_type: str
    orders: tuple[AssessmentOrder, ...]


class PreparedWrite(BaseModel):
    """A translated write, ready to send: the exact JSON body and query, plus warnings."""

    model_config = ConfigDict(frozen=True)

    body: dict[str, Any]
    # Query parameters; a list value is sent as a repeated parameter (`fields=a&fields=b`).
    params: dict[str, str | list[str]] = {}
    warnings: tuple[TranslationWarning, ...] = ()
    # What the provider will hold once the write lands, when the mapping knows it:
    # the provider's own status value and its unified equivalent.
    provider_status: str | None = None
    status: OrderStatus | None = None


class WriteOutcome(BaseModel):
    """The provider's answer to a write."""

    model_config = ConfigDict(frozen=True)

    status_code: int
    message: str | None = None
    provider_warnings: tuple[str, ...] = ()
    # The order as the provider returned it (Unified.to), already translated; else None.
    order: AssessmentOrder | None = None


class AssessmentProvider(Protocol):
    """One adapter instance serves one configured connection."""

    name: ProviderName
    connection: Connection

    def prepare_result(
        self,
        order: AssessmentOrder,
        update: ResultUpdate,
        previous: AssessmentResult | None,
        now: datetime,
    ) -> PreparedWrite:
        """Translate `update` for this provider. Pure.

        Raises InvalidInputError, UnsupportedByProviderError or ResultConflictError.
        """
        ...

    async def send_result(self, order: AssessmentOrder, prepared: PreparedWrite) -> WriteOutcome:
        """Send a prepared write.

        Raises OrderNotFoundError, ProviderRejectedInputError, ResultConflictError,
        ProviderAuthError, ProviderRateLimitedError, ProviderUnavailableError,
        ProviderBadResponseError.
        """
        ...
