"""Reading webhook bodies (providers/webhook_body.py): the byte scan that spares the walk over every
value never lets through a body the walk would refuse."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from providers.errors import ProviderBadResponseError
from providers.models import ProviderName
from providers.webhook_body import MAX_DEPTH, _plainly_fine, _problem, load_json

HOSTILE = ["\ud800", "\udfff", "\x00", "a\x00b", "\ud83d\ude00", "\ud7ff", "\ue000", "한", "\u202e", ""]
text = st.one_of(st.text(max_size=12), st.sampled_from(HOSTILE))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), text)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
                      max_leaves=40)  # fmt: skip


def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


def encodings(value: Any) -> list[bytes]:
    """The ways a sender may put the value on the wire: escaped, raw UTF-8 (surrogates passed through),
    UTF-16 and UTF-32."""
    raw = json.dumps(value, ensure_ascii=False)
    return [
        json.dumps(value).encode("ascii"),
        raw.encode("utf-8", "surrogatepass"),
        raw.encode("utf-16", "surrogatepass"),
        raw.encode("utf-32-le", "surrogatepass"),
    ]


@settings(max_examples=400, derandomize=True)
@given(st.one_of(values, st.integers(0, MAX_DEPTH + 3).map(nested), st.sampled_from(HOSTILE).map(lambda s: nested(30, s))))
def test_the_byte_scan_passes_only_bodies_the_walk_accepts(value: Any) -> None:
    for body in encodings(value):
        try:
            parsed = json.loads(body)
        except ValueError:
            continue  # refused before either check runs
        if _plainly_fine(body):
            assert _problem(parsed) is None, body


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (nested(MAX_DEPTH), "nested deeper"),  # a scalar at depth MAX_DEPTH + 1
        ({"name": "\ud800"}, "not valid Unicode"),
        ({"\x00": 1}, "key that is not valid Unicode"),
        ([["a\x00b"]], "not valid Unicode"),
    ],
)
def test_what_the_walk_refuses_is_still_refused(value: Any, why: str) -> None:
    for body in encodings(value):
        with pytest.raises(ProviderBadResponseError) as refused:
            load_json(body, ProviderName.STACKONE)
        assert why in refused.value.message or "not JSON" in refused.value.message


def test_an_ordinary_body_is_read_by_the_scan_alone() -> None:
    body = json.dumps({"event": "assessment.order.created", "data": {"id": "o-1", "candidate": {"name": "Zoë"}}},
                      ensure_ascii=False).encode()  # fmt: skip
    assert _plainly_fine(body)
    assert load_json(body, ProviderName.STACKONE)["data"]["candidate"]["name"] == "Zoë"
    assert nested(MAX_DEPTH - 1) == load_json(json.dumps(nested(MAX_DEPTH - 1)).encode(), ProviderName.STACKONE)
