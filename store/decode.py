"""Decoding stored records: one that does not decode becomes a coded error for that record only."""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from typing import Any, TypeVar

from pydantic import ValidationError

from providers.errors import StoredRecordUnreadableError
from providers.models import AssessmentOrder, AssessmentResult, Delivery

log = logging.getLogger("gateway.store")
T = TypeVar("T")
Readable = AssessmentOrder | StoredRecordUnreadableError
_UNDECODABLE = (ValidationError, ValueError, TypeError, RecursionError)


def read_order(data: str | bytes, record_id: str) -> AssessmentOrder:
    """An order row's `data`; StoredRecordUnreadableError when it no longer decodes."""
    try:
        return AssessmentOrder.model_validate_json(data)
    except _UNDECODABLE as exc:
        raise _unreadable("order", record_id, exc) from None


def read_result(data: str | bytes, delivery: str | bytes, record_id: str) -> AssessmentResult:
    """A result row's `data` and `delivery`; StoredRecordUnreadableError when they no longer decode."""
    try:
        document = json.loads(data) | {"delivery": json.loads(delivery)}
        return AssessmentResult.model_validate(document)
    except _UNDECODABLE as exc:
        raise _unreadable("result", record_id, exc) from None


def order_or_error(data: str | bytes, record_id: str) -> AssessmentOrder | StoredRecordUnreadableError:
    try:
        return read_order(data, record_id)
    except StoredRecordUnreadableError as error:
        return error


def result_or_error(
    data: str | bytes, delivery: str | bytes, record_id: str
) -> AssessmentResult | StoredRecordUnreadableError:
    try:
        return read_result(data, delivery, record_id)
    except StoredRecordUnreadableError as error:
        return error


class OrderDecodeCache:
    """Decoded orders kept with the exact stored text each came from, by record id (LRU, `size` entries).

    A hit is returned only when the row's text is the very text that was decoded (or that this
    process wrote for that very model, `keep`: orders are frozen, and an order's JSON decodes back to
    an equal order), so it is what decoding it again would give. A record that does not decode is not
    kept: it is decoded, and logged, each time.
    """

    def __init__(self, size: int = 1000) -> None:
        self.size = size
        self._kept: OrderedDict[str, tuple[str | bytes, AssessmentOrder]] = OrderedDict()

    def order_or_error(self, data: str | bytes, record_id: str) -> AssessmentOrder | StoredRecordUnreadableError:
        kept = self._kept.get(record_id)
        if kept is not None and kept[0] == data:
            self._kept.move_to_end(record_id)
            return kept[1]
        found = order_or_error(data, record_id)
        if isinstance(found, AssessmentOrder):
            self.keep(record_id, data, found)
        return found

    def keep(self, record_id: str, data: str | bytes, order: AssessmentOrder) -> None:
        """`order` is what `data` decodes to (the writer encoded it): a later read of that text is a hit.
        Kept before the write commits: a write that rolls back leaves other text in the row, so no hit."""
        _remember(self._kept, record_id, (data, order), self.size)


class ResultDecodeCache:
    """The newest result this process wrote for each order, kept with the exact `data` text it was
    written with, by order id (LRU, `size` orders; one result each, as only an order's newest result is
    read back on a hot path): a read of that result whose `data` is that very text decodes only its
    `delivery` (small; it changes with every attempt) and takes the rest from the kept result, which is
    what decoding the text again would give (results are frozen, and their JSON decodes back to an
    equal result). Anything else is decoded in full, as `result_or_error` does."""

    def __init__(self, size: int = 500) -> None:
        self.size = size
        self._kept: OrderedDict[str, tuple[str, str | bytes, AssessmentResult]] = OrderedDict()

    def result_or_error(
        self, order_id: str, data: str | bytes, delivery: str | bytes, record_id: str
    ) -> AssessmentResult | StoredRecordUnreadableError:
        kept = self._kept.get(order_id)
        if kept is not None and kept[0] == record_id and kept[1] == data:
            try:
                decoded = Delivery.model_validate_json(delivery)
            except _UNDECODABLE:
                return result_or_error(data, delivery, record_id)  # (decoded in full: the error, logged)
            self._kept.move_to_end(order_id)
            return kept[2].model_copy(update={"delivery": decoded})
        return result_or_error(data, delivery, record_id)

    def keep(self, order_id: str, data: str | bytes, result: AssessmentResult) -> None:
        """`data` is `result` without its delivery, as the writer encoded it, for the order's newest
        result. Kept before the write commits: a write that rolls back leaves no such row, so no hit."""
        _remember(self._kept, order_id, (result.id, data, result), self.size)


def _remember(kept: OrderedDict[str, Any], key: str, value: Any, size: int) -> None:
    """Keep `value` under `key` as the most recently used; the least recently used goes past `size`."""
    kept[key] = value
    kept.move_to_end(key)
    if len(kept) > size:
        kept.popitem(last=False)


def readable(value: T | StoredRecordUnreadableError) -> T:
    """The record, or its error raised (for callers that need the one record to go on)."""
    if isinstance(value, StoredRecordUnreadableError):
        raise value
    return value


def _unreadable(kind: str, record_id: str, exc: BaseException) -> StoredRecordUnreadableError:
    # One line, no stack and no content (records hold candidate data): which record, and the kind of failure.
    log.warning("stored %s %s cannot be decoded (%s)", kind, record_id, type(exc).__name__)
    return StoredRecordUnreadableError(f"The stored {kind} cannot be read.", record_id=record_id)
