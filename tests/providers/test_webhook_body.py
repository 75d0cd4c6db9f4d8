"""Reading JSON bodies, webhooks (providers/webhook_body.py) and GraphQL requests (server/protocol.py):
the byte scan that spares the walk over every value (providers/bounds.py `plain_json_text`) never lets
through a body the walk would refuse."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from providers.bounds import MAX_BODY_DEPTH, json_problem, plain_json_text
from providers.errors import ErrorCode, ProviderBadResponseError
from providers.models import ProviderName
from providers.webhook_body import MAX_DEPTH, _plainly_fine, _problem, load_json
from server.errors import RequestError
from server.protocol import decode_json

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


# --------------------------------------------------------------------------- GraphQL request bodies

numbers_text = st.sampled_from(["1e400", "-1E+0308", "1e308", "2e308", "1e-400", "9" * 310, "9" * 310 + ".5",
                                "0.000001", "12345678901234567890"])  # fmt: skip


@settings(max_examples=400, derandomize=True)
@given(st.one_of(values, st.integers(0, MAX_BODY_DEPTH + 3).map(nested)), st.lists(numbers_text, max_size=2))
def test_a_request_body_passed_by_the_scan_is_one_the_walk_accepts(value: Any, raw_numbers: list[str]) -> None:
    # numbers written as a sender may write them (json.dumps never writes 1e400), beside the value
    beside = ("[" + "".join(n + "," for n in raw_numbers) + json.dumps(value) + "]").encode()
    for body in [*encodings(value), beside]:
        try:
            parsed = json.loads(body)
        except ValueError:
            continue
        if plain_json_text(body, MAX_BODY_DEPTH):
            assert json_problem(parsed, max_depth=MAX_BODY_DEPTH, max_bytes=None, max_int=None) is None, body


@pytest.mark.parametrize("text", ['{"variables": {"x": 1e400}}', '{"variables": {"x": "\\ud800"}}',
                                  '{"query": "a\\u0000b"}', json.dumps(nested(MAX_BODY_DEPTH + 1))])  # fmt: skip
def test_a_request_body_the_walk_refuses_is_still_refused(text: str) -> None:
    with pytest.raises(RequestError) as refused:
        decode_json(text.encode(), "request body")
    assert refused.value.code is ErrorCode.BAD_REQUEST
