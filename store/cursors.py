"""Opaque keyset cursors: base64url of the sort key name, its value and the order id."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from json.encoder import encode_basestring_ascii as _string  # json.dumps' own, for str

from providers.errors import InvalidInputError


def encode_cursor(key: str, value: datetime, order_id: str) -> str:
    # The text json.dumps([key, value.isoformat(), order_id], separators=(",", ":")) gives, without its
    # generic encoder (one call per cursor of every page).
    text = f"[{_string(key)},{_string(value.isoformat())},{_string(order_id)}]"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, key: str, *, field: str) -> tuple[datetime, str]:
    """The (sort value, order id) a cursor points at; `InvalidInputError(field=...)` if malformed."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        got_key, stamp, order_id = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        value = datetime.fromisoformat(stamp)
    except (ValueError, TypeError, UnicodeError, binascii.Error):
        raise InvalidInputError("Malformed cursor.", field=field) from None
    if got_key != key or not isinstance(order_id, str) or value.tzinfo is None:
        raise InvalidInputError("Cursor does not belong to this ordering.", field=field)
    return value, order_id
