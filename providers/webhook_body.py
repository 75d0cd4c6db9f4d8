"""Reading a webhook body: bounded JSON (depth, finite numbers, valid Unicode) and canonical event keys. Pure."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from providers.bounds import plain_json_text
from providers.errors import ProviderBadResponseError
from providers.models import ProviderName

# Far deeper than any provider's order (about 6 levels) and far below the parsers' recursion limits.
MAX_DEPTH = 32
_NAMES = {ProviderName.KOMBO: "Kombo", ProviderName.STACKONE: "StackOne", ProviderName.UNIFIED_TO: "Unified.to"}


def load_json(raw_body: bytes, provider: ProviderName) -> Any:
    """The body's JSON value, or ProviderBadResponseError: not UTF-8 JSON, NaN/Infinity or a number
    too large for a float, nesting deeper than MAX_DEPTH, or a string that is not valid Unicode."""
    try:
        value = json.loads(raw_body, parse_float=_finite, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _malformed(provider, "the body is not JSON") from None
    problem = None if _plainly_fine(raw_body) else _problem(value)
    if problem:
        raise _malformed(provider, problem)
    return value


def _plainly_fine(raw_body: bytes) -> bool:
    """The raw bytes show that `_problem` cannot refuse the value (a scalar inside k containers is at
    depth k + 1, so fewer than MAX_DEPTH containers keep every value within it)."""
    return plain_json_text(raw_body, MAX_DEPTH - 1)


def canonical_key(value: Any) -> str:
    """A digest of a JSON value that ignores whitespace and key order: redeliveries of the same
    signed content share it however they were serialised."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError("not a finite number")
    return number


def _refuse_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


def _problem(value: Any) -> str | None:
    """Walks the value without recursion; the first reason it cannot be stored and read back."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"the body is nested deeper than {MAX_DEPTH} levels"
        if isinstance(item, str) and not _valid_text(item):
            return "the body has a string that is not valid Unicode"
        if isinstance(item, dict):
            if not all(_valid_text(key) for key in item):
                return "the body has a key that is not valid Unicode"
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return None


def _valid_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (`"\ud800"`)
        return False
    return "\x00" not in text  # PostgreSQL text cannot hold NUL


def _malformed(provider: ProviderName, reason: str) -> ProviderBadResponseError:
    return ProviderBadResponseError(f"{_NAMES.get(provider, provider.value)} webhook: {reason}.", provider=provider)
