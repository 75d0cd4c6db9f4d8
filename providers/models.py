"""Domain models shared by every layer: orders, results, deliveries and warnings."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from providers.bounds import (
    MAX_ATTACHMENTS,
    MAX_ATTRIBUTES,
    BoundedDatetime,
    Finite,
    JsonObject,
    Key,
    Label,
    Text,
    Url,
)


class ProviderName(StrEnum):
    """The unified-API providers the service speaks to."""

    STACKONE = "STACKONE"
    KOMBO = "KOMBO"
    UNIFIED_TO = "UNIFIED_TO"


class OrderStatus(StrEnum):
    """One status vocabulary covering every provider's."""

    OPEN = "OPEN"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


class Outcome(StrEnum):
    """The candidate's verdict, separate from the order status."""

    PASSED = "PASSED"
    FAILED = "FAILED"


class AttributeType(StrEnum):
    TEXT = "TEXT"
    NUMBER = "NUMBER"
    SUB_RESULT = "SUB_RESULT"


class DeliveryState(StrEnum):
    """Where a recorded result stands on its way to the provider.

    PENDING: recorded, queued or being sent. RETRYING: an attempt failed in a way worth retrying; the
    background deliverer tries again at `next_attempt_at`. DELIVERED: the provider accepted it.
    FAILED: the provider refused it (not retried automatically). CANCELLED: cancelled before delivery.
    SUPERSEDED: a newer result for the same order was recorded before this one was delivered (writes
    set absolute state, so only the newest is sent). UNCONFIRMED: a request left the service but its
    outcome is unknown (timeout, dropped connection, shutdown or crash mid-call); the order is fenced
    until `next_attempt_at` (the quarantine), then reconciled by reading the provider where it can be
    read, else sent again.
    """

    PENDING = "PENDING"
    RETRYING = "RETRYING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    SUPERSEDED = "SUPERSEDED"
    UNCONFIRMED = "UNCONFIRMED"


class WarningCode(StrEnum):
    """How a translation to a provider changed a value (TranslationWarning.code)."""

    MOVED = "MOVED"
    APPROXIMATED = "APPROXIMATED"
    DEFAULTED = "DEFAULTED"
    CLEARED = "CLEARED"  # an earlier result's value the newest result leaves out is cleared at the provider


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --------------------------------------------------------------------------- orders


class Candidate(_Model):
    remote_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    name: str | None = None
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    profile_url: str | None = None
    resume_url: str | None = None


class Application(_Model):
    remote_id: str | None = None


class Job(_Model):
    remote_id: str | None = None
    title: str | None = None
    code: str | None = None
    description: str | None = None
    location: str | None = None


class Package(_Model):
    id: str
    name: str | None = None


class AssessmentOrder(_Model):
    """An order as the service keeps it: provider-neutral fields plus the provider's raw record."""

    connection_id: str
    provider: ProviderName
    provider_order_id: str
    status: OrderStatus
    provider_status: str | None = None
    package: Package | None = None
    candidate: Candidate = Field(default_factory=Candidate)
    application: Application | None = None
    job: Job | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    raw: dict[str, Any] = Field(default_factory=dict)

    @property
    def global_id(self) -> str:
        return OrderRef(self.connection_id, self.provider_order_id).encode()


# --------------------------------------------------------------------------- results


class Score(_Model):
    value: Finite
    min: Finite | None = None
    max: Finite | None = None
    label: Label | None = None


class Attachment(_Model):
    url: Url
    name: Label | None = None
    content_type: Label | None = None


class AttributeScore(_Model):
    value: Finite
    max: Finite | None = None


class ResultAttribute(_Model):
    type: AttributeType
    label: Label
    value: Text | None = None
    score: AttributeScore | None = None
    status: OrderStatus | None = None
    id: Label | None = None


class ResultUpdate(_Model):
    """What a caller asks to write back: the union of what every provider can carry."""

    status: OrderStatus
    outcome: Outcome | None = None
    score: Score | None = None
    summary: Text | None = None
    result_url: Url | None = None
    started_at: BoundedDatetime | None = None
    completed_at: BoundedDatetime | None = None
    attachments: Annotated[tuple[Attachment, ...], Field(max_length=MAX_ATTACHMENTS)] = ()
    attributes: Annotated[tuple[ResultAttribute, ...], Field(max_length=MAX_ATTRIBUTES)] = ()
    candidate_profile_url: Url | None = None
    passthrough: JsonObject | None = None
    idempotency_key: Key | None = None


class TranslationWarning(_Model):
    """A value the translation changed, moved or could only approximate."""

    code: WarningCode
    field: str
    message: str


class Delivery(_Model):
    state: DeliveryState
    attempts: int = 0
    sends: int = 0  # requests that left the service (an attempt that never sent does not count)
    reconciled: bool = False  # DELIVERED because reading the provider showed the write had landed
    provider_status_code: int | None = None
    provider_message: str | None = None
    provider_warnings: tuple[str, ...] = ()
    error_code: str | None = None
    error_message: str | None = None
    updated_at: datetime | None = None
    next_attempt_at: datetime | None = None  # when the deliverer tries again (PENDING, RETRYING)

    def send_counted(self) -> Delivery:
        """This delivery with one more request out (the send is begun)."""
        return self.model_copy(update={"sends": self.sends + 1})


class AssessmentResult(_Model):
    """The last result submitted for an order, with its delivery state."""

    id: str
    update: ResultUpdate
    submitted_at: datetime
    warnings: tuple[TranslationWarning, ...] = ()
    delivery: Delivery


# --------------------------------------------------------------------------- ids


class OrderRef:
    """The (connection, provider order id) pair behind an opaque global order id."""

    __slots__ = ("connection_id", "provider_order_id", "_encoded")
    _PREFIX = "AssessmentOrder:"

    def __init__(self, connection_id: str, provider_order_id: str) -> None:
        self.connection_id = connection_id
        self.provider_order_id = provider_order_id
        self._encoded: str | None = None

    def encode(self) -> str:
        if self._encoded is None:  # (read several times per request)
            text = f"{self._PREFIX}{self.connection_id}:{self.provider_order_id}"
            self._encoded = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
        return self._encoded

    @classmethod
    def parse(cls, global_id: str) -> OrderRef:
        from providers.errors import InvalidInputError

        try:
            padded = global_id + "=" * (-len(global_id) % 4)
            text = base64.urlsafe_b64decode(padded.encode("ascii")).decode()
        except (binascii.Error, UnicodeError, ValueError):
            raise InvalidInputError("Malformed order id.", field="orderId") from None
        prefix, connection_id, provider_order_id = "", "", ""
        if text.startswith(cls._PREFIX):
            prefix = cls._PREFIX
            connection_id, _, provider_order_id = text[len(prefix) :].partition(":")
        if not (prefix and connection_id and provider_order_id):
            raise InvalidInputError("Malformed order id.", field="orderId")
        return cls(connection_id, provider_order_id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OrderRef) and (
            (self.connection_id, self.provider_order_id)
            == (other.connection_id, other.provider_order_id)
        )

    def __hash__(self) -> int:
        return hash((self.connection_id, self.provider_order_id))

    def __repr__(self) -> str:
        return f"OrderRef({self.connection_id!r}, {self.provider_order_id!r})"
