"""The store's contract: one small async Protocol plus the query types it takes and returns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from providers.errors import StoredRecordUnreadableError
from providers.models import (
    AssessmentOrder,
    AssessmentResult,
    Delivery,
    DeliveryState,
    OrderRef,
    OrderStatus,
    ProviderName,
)

T = TypeVar("T")
# A record as a batch read returns it: decoded, or the coded error of that one record (store/decode.py).
Stored = T | StoredRecordUnreadableError
if TYPE_CHECKING:
    from store.stats import DeliveryStats


class OrderSort(StrEnum):
    """Orderings of an order list; ties are broken by the order's global id."""

    CREATED_AT_ASC = "CREATED_AT_ASC"
    CREATED_AT_DESC = "CREATED_AT_DESC"
    UPDATED_AT_ASC = "UPDATED_AT_ASC"
    UPDATED_AT_DESC = "UPDATED_AT_DESC"


class OrderFilter(BaseModel):
    """Which orders a list returns. Every field is optional; a tuple means "any of"; fields AND together.

    `created_after`/`updated_after` are inclusive, `created_before`/`updated_before` exclusive.
    `refs=None` means no restriction; `refs=()` matches nothing.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    providers: tuple[ProviderName, ...] = ()
    connection_ids: tuple[str, ...] = ()
    statuses: tuple[OrderStatus, ...] = ()
    package_ids: tuple[str, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    candidate_email: str | None = None
    search: str | None = None
    refs: tuple[OrderRef, ...] | None = None


class OrderPage(BaseModel):
    """One page of orders with one opaque cursor per order (Relay connection semantics)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    orders: list[AssessmentOrder | StoredRecordUnreadableError]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool
    total_count: int | None  # None when the caller did not ask for it (it is the one part that reads every row)


class WebhookEvent(BaseModel):
    """One webhook delivery as received, after its signature was verified."""

    model_config = ConfigDict(frozen=True)

    connection_id: str
    event_key: str  # the provider's event id, else a digest of the body: redeliveries share it
    event_type: str
    order_ids: tuple[str, ...] = ()
    received_at: datetime
    payload: dict[str, Any]


class SyncState(BaseModel):
    """Where the order sync of one connection stands; a run resumes from `cursor`."""

    model_config = ConfigDict(frozen=True)

    connection_id: str
    created_after: datetime | None = None  # the window of the run in progress (or of the next)
    cursor: str | None = None  # the next page of the run in progress; None: start from created_after
    run_started_at: datetime | None = None
    lease_until: datetime | None = None  # a run holds the lease until then; no other run starts
    last_finished_at: datetime | None = None
    last_error: str | None = None
    orders_seen: int = 0


class IdempotencyKeyTaken(Exception):
    """A result with this idempotency key is already recorded for the order."""


class DeliveryClaim(BaseModel):
    """Who claims a delivery, and until when: the lease on the order's writes."""

    model_config = ConfigDict(frozen=True)

    holder: str
    now: datetime
    lease_until: datetime
    # A lease found expired with a request out fences the order this long (the unseen outcome).
    quarantine_seconds: float = 60.0


class DeliveryRecord(BaseModel):
    """A recorded result with what its attempts send."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    ref: OrderRef
    result: AssessmentResult
    prepared: dict[str, Any] | None  # the PreparedWrite as JSON; None for rows older than 0004
    request_body: dict[str, Any]
    claimed_by: str | None = None  # set while an instance holds it (unexpired)
    newest: bool = True  # no later result exists for the order
    token: int | None = None  # the fencing token of the claim this record was taken under
    begun: bool = False  # recorded with its send begun (`record_delivery(begin_send=True)`): sent next


class DeliveryPage(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    records: list[DeliveryRecord | StoredRecordUnreadableError]
    cursors: list[str]
    has_next_page: bool
    total_count: int


class PersistedDocument(BaseModel):
    """A GraphQL document registered by APQ (`source="apq"`) or loaded from a trusted-document manifest."""

    model_config = ConfigDict(frozen=True)

    id: str
    body: str
    source: str
    body_hash: str  # sha256 hex of the body
    operation_name: str | None = None
    operation_type: str | None = None
    client_name: str | None = None  # reserved to the client of that name
    created_at: datetime | None = None


class OrderEventKind(StrEnum):
    """What happened to an order, as live subscribers are told."""

    ORDER_RECEIVED = "ORDER_RECEIVED"  # first arrival (webhook or Kombo sync)
    ORDER_UPDATED = "ORDER_UPDATED"  # intake changed a known order
    RESULT_RECORDED = "RESULT_RECORDED"  # updateAssessmentResult recorded a result
    DELIVERY_CHANGED = "DELIVERY_CHANGED"  # a delivery's state changed


class OrderEvent(BaseModel):
    """One entry of the live-event log. `seq` is its place in the log (set by the store)."""

    model_config = ConfigDict(frozen=True)

    kind: OrderEventKind
    order_id: str  # the global order id
    connection_id: str
    provider: ProviderName
    status: OrderStatus  # the order's status when the event happened
    at: datetime
    seq: int = 0


@dataclass(frozen=True)
class EventWrite:
    """One webhook delivery to record: the event, its orders, and the live events that announce them
    (appended only when the delivery is new)."""

    event: WebhookEvent
    orders: tuple[AssessmentOrder, ...]
    announce: tuple[OrderEvent, ...] = ()


class Store(Protocol):
    """Persistence of orders and results. Raises `InvalidInputError` for malformed cursors or counts."""

    query_count: int  # SQL statements executed since creation

    async def migrate(self) -> None: ...

    async def close(self) -> None: ...

    async def migrations_at_head(self) -> bool:
        """Reachable and migrated to the newest revision (raises while the store is unreachable)."""

    async def upsert_order(self, order: AssessmentOrder) -> None: ...

    async def get_orders(self, refs: Sequence[OrderRef]) -> dict[OrderRef, Stored[AssessmentOrder]]:
        """The stored orders among `refs`; one that cannot be decoded maps to its StoredRecordUnreadableError."""

    async def list_orders(
        self,
        filter: OrderFilter,
        *,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        sort: OrderSort = OrderSort.CREATED_AT_DESC,
        count_total: bool = True,
    ) -> OrderPage: ...

    async def order_and_latest_result(
        self, ref: OrderRef
    ) -> tuple[Stored[AssessmentOrder] | None, Stored[AssessmentResult] | None]:
        """`get_orders` and `latest_results` of one order in one statement (None: not stored)."""

    async def latest_results(self, refs: Sequence[OrderRef]) -> dict[OrderRef, Stored[AssessmentResult]]:
        """The newest result of each order; one that cannot be decoded maps to its StoredRecordUnreadableError."""

    async def get_result(self, result_id: str) -> AssessmentResult | None:
        """One result; StoredRecordUnreadableError when it cannot be decoded."""

    async def record_event(self, event: WebhookEvent, orders: Sequence[AssessmentOrder]) -> bool:
        """Store the event and its orders in one transaction. A redelivery (same connection and
        event key) changes nothing and returns False. An order whose `updated_at` is older than the
        stored one's, or without one and with another status than the stored one, is not written
        (a late or replayed event never rolls an order back)."""

    async def record_events(self, writes: Sequence[EventWrite]) -> list[bool]:
        """`record_event` for several deliveries in one transaction (a group commit); per delivery,
        whether it was new. A new delivery's `announce` events are appended to the live-event log in
        the same transaction. One failing write fails them all (the caller writes them one by one then)."""

    async def list_events(self, connection_id: str) -> list[WebhookEvent]:
        """The events of a connection, oldest first."""

    async def get_sync_state(self, connection_id: str) -> SyncState | None: ...

    async def claim_sync(self, connection_id: str, now: datetime, lease_until: datetime) -> SyncState | None:
        """Take the connection's sync lease when it is free (or expired): the state to resume
        from, or None when another run holds it. Atomic across instances."""

    async def save_sync_state(self, state: SyncState) -> None: ...

    # ----------------------------------------------------------------------- delivery (outbox)

    async def record_delivery(
        self,
        ref: OrderRef,
        result: AssessmentResult,
        request_body: dict[str, Any],
        prepared: dict[str, Any],
        claim: DeliveryClaim | None,
        events: Sequence[OrderEvent] = (),
        *,
        begin_send: bool = False,
        durable: bool = True,
    ) -> int | None:
        """Insert a result (its delivery PENDING or queued) in one transaction that also marks older
        undelivered, unclaimed results of the order SUPERSEDED, given `claim`, leases the order, and
        appends `events` to the live-event log. `begin_send` (with `claim`): the request leaves right
        after, so when the lease is taken it is also what `begin_send` makes it (a request out, the
        send counted: the stored delivery has `sends` + 1), in the same transaction.
        The lease's fencing token when it was taken, else None. `IdempotencyKeyTaken` when the key is
        already used.

        `durable=False` (with `begin_send`; a SQLite file): when the lease is taken and no older result
        was replaced, the commit returns without waiting for the disk (synced within `SYNC_WITHIN` or by
        the next durable commit, store/sqlite_writes.py). The caller then calls `on_disk()` before it
        answers anything but a delivered outcome. Otherwise, and on PostgreSQL, it is durable."""

    async def on_disk(self) -> None:
        """Return once every commit made so far is on disk. Only SQLite commits can lag (an attempt's
        outcome, a result recorded with `durable=False`); PostgreSQL's are durable at once."""

    async def find_by_idempotency_key(self, ref: OrderRef, key: str) -> DeliveryRecord | None: ...

    async def get_delivery(self, result_id: str, now: datetime) -> DeliveryRecord | None: ...

    async def claim_delivery(
        self, result_id: str, claim: DeliveryClaim, from_states: Sequence[DeliveryState], delivery: Delivery
    ) -> DeliveryRecord | None:
        """Lease the result's order and claim the result when it is in `from_states` and nobody holds
        it; its delivery becomes `delivery`. None when that is not possible."""

    async def claim_due(
        self, claim: DeliveryClaim, slots: Mapping[str, int], limit: int
    ) -> list[DeliveryRecord]:
        """Claim up to `limit` PENDING/RETRYING/UNCONFIRMED deliveries due at `claim.now`, at most
        `slots[c]` of connection `c`, oldest due first; one per order, never an order leased by someone
        else, and only the newest result of an order: a due result that is not the newest becomes
        SUPERSEDED in the claim's transaction."""

    async def finish_attempt(
        self,
        ref: OrderRef,
        result_id: str,
        delivery: Delivery,
        order: AssessmentOrder | None,
        holder: str,
        token: int | None = None,
        quarantine_until: datetime | None = None,
        events: Sequence[OrderEvent] = (),
    ) -> Delivery:
        """Store an attempt's outcome (and append `events` to the live-event log with it) (a RETRYING or UNCONFIRMED outcome of a result that is no
        longer the newest becomes SUPERSEDED), replace the order when given, release `holder`'s lease
        and claim (the lease becomes a quarantine until `quarantine_until` when given). With `token`,
        an outcome whose lease was lost meanwhile (another claim's token) is ignored. Returns the
        delivery stored."""

    async def begin_send(
        self, ref: OrderRef, result_id: str, holder: str, token: int, lease_until: datetime,
        now: datetime | None = None,
    ) -> Delivery | None:
        """Just before a request leaves: the lease is still ours, it now lasts to `lease_until`, a
        request is out, the send is counted (the delivery returned). None when the lease was lost.
        When a newer result of the order exists nothing may be sent: the result becomes SUPERSEDED
        (that delivery is returned, no send counted) and the lease is released."""

    async def renew_lease(self, ref: OrderRef, holder: str, token: int, lease_until: datetime) -> bool:
        """Extend a held lease while its call runs; False when it was lost."""

    async def set_delivery(
        self, result_id: str, delivery: Delivery, from_states: Sequence[DeliveryState], now: datetime
    ) -> bool:
        """Replace the delivery of an unclaimed result in `from_states`; False otherwise."""

    async def release_claims(self, holder: str) -> int:
        """Drop every lease and claim `holder` has (graceful shutdown), except those with a request
        out (they fence the order for its quarantine); how many results were released."""

    async def list_deliveries(
        self,
        states: Sequence[DeliveryState],
        connection_ids: Sequence[str],
        *,
        first: int,
        after: str | None,
        now: datetime,
    ) -> DeliveryPage:
        """Results by delivery state (all states when empty), oldest first."""

    async def delivery_stats(self) -> DeliveryStats:
        """Results per delivery state and the waiting queue per connection (store/stats.py)."""

    async def save_persisted_documents(self, documents: Sequence[PersistedDocument], *, replace: bool) -> int:
        """Store documents by (source, id): `replace` overwrites (manifests), otherwise the first
        registration is kept (APQ). Returns how many rows were written."""

    async def find_persisted_documents(
        self, *, ids: Sequence[str] = (), body_hashes: Sequence[str] = ()
    ) -> list[PersistedDocument]:
        """Every stored document whose id is in `ids` or whose body hash is in `body_hashes`."""

    async def append_order_events(self, events: Sequence[OrderEvent]) -> list[OrderEvent]:
        """Append to the live-event log (in log order; with `seq` set); on PostgreSQL every listening
        instance is notified when the append commits."""
        ...

    async def append_after_change(self, events: Sequence[OrderEvent]) -> bool:
        """`append_order_events` for a change already committed: a failure is logged, never raised
        (the change stands; these events are lost). True when they were appended."""
        ...

    async def order_events_after(
        self, after: int, connection_ids: Sequence[str] | None, *, until: int | None = None, limit: int = 500
    ) -> list[OrderEvent]:
        """Events with `after < seq <= until`, oldest first; only of `connection_ids` (None: all)."""
        ...

    async def last_order_event_seq(self) -> int: ...

    async def prune_order_events(self, before: datetime) -> int: ...

    async def event_cursor_key(self) -> bytes: ...
