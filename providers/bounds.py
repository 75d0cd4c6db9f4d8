"""Input bounds, defined once: what the service accepts is exactly what it can store and read back.

The domain models use the annotated types below, so a value outside these bounds can neither be
built from input nor decoded from the store; the GraphQL inputs and the HTTP edge apply the same
numbers. `docs/input-bounds.md` lists every bound and the code a caller gets.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationError

MAX_ID = 512  # ids (order, result, connection, package) and cursors
MAX_KEY = 255  # idempotency keys: far below PostgreSQL's btree row limit (2704 bytes) even in 4-byte UTF-8
MAX_LABEL = 255  # labels, names, content types, sub-result ids
MAX_URL = 2_048
MAX_TEXT = 20_000  # summary, attribute values
MAX_SEARCH = 256  # search and candidateEmail filters
MAX_ATTACHMENTS = 50
MAX_ATTRIBUTES = 200
MAX_FILTER_VALUES = 100  # values in one list filter
MAX_PAGE = 100  # first / last of every list field
MAX_JSON_DEPTH = 32  # nesting of one JSON value (an object or array is one level)
MAX_JSON_BYTES = 65_536  # one JSON value, serialised
MAX_JSON_INT = 2**53  # integers in JSON values: exact in every JSON reader (JavaScript included)
MAX_BODY_DEPTH = 64  # nesting of a whole request body (variables hold JSON values and input objects)
# Every stored or compared form of a date-time (UTC, any offset up to ±14:00) stays representable.
MIN_DATETIME = datetime(1, 1, 2, tzinfo=UTC)
MAX_DATETIME = datetime(9999, 12, 30, 23, 59, 59, 999_999, tzinfo=UTC)


# --------------------------------------------------------------------------- checks (ValueError)


def valid_text(value: str) -> str:
    """A string that encodes as UTF-8: no lone surrogates (`\\ud800`), no NUL (PostgreSQL text)."""
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return value


def valid_datetime(value: datetime) -> datetime:
    """A date-time within the range (a naive one is taken as UTC, as the provider mappings do)."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if not MIN_DATETIME <= aware <= MAX_DATETIME:
        raise ValueError(f"date-time out of range ({MIN_DATETIME.date()} to {MAX_DATETIME.date()} UTC)")
    return value


def finite_number_text(value: str) -> float:
    """The number a NUMBER attribute's text holds; finite ("nan", "inf" and "1e400" are not)."""
    number = float(value)  # ValueError when not numeric
    if not math.isfinite(number):
        raise ValueError("a number must be finite")
    return number


def json_problem(
    value: Any,
    *,
    max_depth: int = MAX_JSON_DEPTH,
    max_bytes: int | None = MAX_JSON_BYTES,
    max_int: int | None = MAX_JSON_INT,
) -> str | None:
    """What makes `value` unfit to store as JSON, or None: too deep, too big, a non-finite number, an
    integer beyond `max_int`, a non-string key, invalid Unicode. Iterative, so any depth is safe to check."""
    size = 0
    for item, depth in _walk(value):
        if depth > max_depth:
            return f"nested deeper than {max_depth} levels"
        problem = _scalar_problem(item, max_int)
        if problem:
            return problem
        if isinstance(item, str):
            size += len(item)
        if max_bytes is not None and size > max_bytes:
            return f"larger than {max_bytes} bytes"
    if max_bytes is not None and len(_dumps(value)) > max_bytes:
        return f"larger than {max_bytes} bytes"
    return None


_HUGE_NUMBER = re.compile(rb"[eE][+-]?0*[1-9][0-9]{2}|[0-9]{300}")


def plain_json_text(raw: bytes, containers: int) -> bool:
    """True when the raw text alone shows that any JSON value parsed from it (`json.loads`) nests at
    most `containers` objects and arrays, holds only finite numbers, and only strings that are valid
    Unicode without NUL: then the walk over every value (`json_problem`, webhook bodies) cannot
    refuse it, and a few scans in C replace it. False says nothing: the walk decides.

    - Nesting: a value lies inside at most as many containers as the text has `{` and `[` (those in
      strings only add to the count).
    - Numbers: a float is infinite only from an exponent of three or more digits or a run of
      hundreds of digits; neither pattern appears (one inside a string only costs the shortcut).
    - Strings: a parsed string holds a lone surrogate or NUL only through a `\\u` escape, through
      bytes decoded with surrogatepass (a surrogate in UTF-8 starts with byte 0xED), or in a text that
      is not UTF-8 at all (UTF-16 and UTF-32 JSON have NUL bytes; NUL itself cannot stand unescaped
      in a JSON string). None of those byte sequences appears."""
    return (
        raw.count(b"{") + raw.count(b"[") <= containers
        and b"\\u" not in raw and b"\xed" not in raw and b"\x00" not in raw
        and _HUGE_NUMBER.search(raw) is None
    )  # fmt: skip


def _walk(value: Any) -> Iterator[tuple[Any, int]]:
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            yield item, depth + 1
            if any(not isinstance(key, str) for key in item):
                yield object(), depth + 1  # reported as an unsupported value
            stack += [(key, depth + 1) for key in item] + [(v, depth + 1) for v in item.values()]
        elif isinstance(item, list | tuple):
            yield item, depth + 1
            stack += [(v, depth + 1) for v in item]
        else:
            yield item, depth


def _scalar_problem(item: Any, max_int: int | None) -> str | None:
    if item is None or isinstance(item, bool | dict | list | tuple):
        return None
    if isinstance(item, str):
        try:
            valid_text(item)
        except ValueError as exc:
            return str(exc)
        return None
    if isinstance(item, int):
        return None if max_int is None or -max_int <= item <= max_int else f"integers must lie within ±{max_int}"
    if isinstance(item, float):
        return None if math.isfinite(item) else "numbers must be finite"
    return f"{type(item).__name__} is not a JSON value"


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def valid_json_object(value: dict[str, Any]) -> dict[str, Any]:
    problem = json_problem(value)
    if problem:
        raise ValueError(f"JSON value {problem}")
    return value


# --------------------------------------------------------------------------- annotated types

Finite = Annotated[float, Field(allow_inf_nan=False)]
Id = Annotated[str, Field(max_length=MAX_ID), AfterValidator(valid_text)]
Key = Annotated[str, Field(max_length=MAX_KEY), AfterValidator(valid_text)]
Label = Annotated[str, Field(max_length=MAX_LABEL), AfterValidator(valid_text)]
Url = Annotated[str, Field(max_length=MAX_URL), AfterValidator(valid_text)]
Text = Annotated[str, Field(max_length=MAX_TEXT), AfterValidator(valid_text)]
Search = Annotated[str, Field(max_length=MAX_SEARCH), AfterValidator(valid_text)]
BoundedDatetime = Annotated[datetime, AfterValidator(valid_datetime)]
JsonObject = Annotated[dict[str, Any], AfterValidator(valid_json_object)]


def first_problem(exc: ValidationError) -> tuple[str, str]:
    """(camelCase field path, message) of a pydantic error, for a coded refusal."""
    error = exc.errors()[0]
    parts: list[str] = []
    for part in error["loc"]:
        if isinstance(part, int):
            parts[-1:] = [f"{parts[-1] if parts else ''}[{part}]"]
        else:
            head, *rest = str(part).split("_")
            parts.append(head + "".join(word.capitalize() for word in rest))
    message = str(error["msg"]).removeprefix("Value error, ")
    return ".".join(parts), message
