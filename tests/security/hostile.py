"""Hypothesis strategies for hostile input-topic messages, shared by the fuzz tests.

A hostile message is made by taking a valid payload of the topic (our own shape or a
vendor's) and damaging it: a value replaced by a raw JSON token (hostile strings, huge
numbers, wrong types, extreme or malformed timestamps, deep nesting, huge strings), a key
added or removed, the document cut, wrapped or padded past the size limit; or by
arbitrary bytes. Some damaged messages are still valid (an RTL account id is a legal id):
callers ask the decoder which are, and expect exactly the others to be dead-lettered.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from hypothesis import strategies as st

from tests.topics import payloads
from topics.catalogue import TopicKind

PLACEHOLDER = "\u0000pulse-fuzz-placeholder\u0000"
_PLACEHOLDER_JSON = json.dumps(PLACEHOLDER)

T0 = payloads.T0
"""Every shape below happens at T0, so a caller can move a message in time by replacing
this text (and T0_EPOCH for Stripe) with another instant of the same length."""
T0_EPOCH = str(int(datetime.fromisoformat(T0).timestamp()))


def _segment(**changes: Any) -> dict[str, Any]:
    at = dict.fromkeys(("timestamp", "originalTimestamp", "receivedAt", "sentAt"), T0)
    return payloads.segment_track(**at) | changes


def _stripe(factory: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    return lambda: factory() | {"created": int(T0_EPOCH)}


SHAPES: dict[TopicKind, list[Callable[[], dict[str, Any]]]] = {
    TopicKind.USAGE: [
        payloads.usage,
        payloads.user_link,
        _segment,
        lambda: payloads.segment_group(timestamp=T0),
        lambda: _segment(type="identify", traits={"company": {"id": "acme"}}),
    ],
    TopicKind.TICKETS: [lambda: payloads.ticket(action="rated", csat=3), payloads.ticket],
    TopicKind.BILLING: [
        payloads.billing,
        _stripe(payloads.stripe_subscription),
        _stripe(payloads.stripe_invoice),
    ],
    TopicKind.FEEDBACK: [payloads.survey],
    TopicKind.ACCOUNTS: [payloads.account],
    TopicKind.COMMANDS: [payloads.snooze, payloads.override, payloads.feedback],
}

HOSTILE_STRINGS = [
    "",
    " ",
    "\x00",
    "acme\x00",
    "\x7f",
    "\x85",
    "\r\n",
    "\u2028\u2029",
    "\u202eemca",  # right-to-left override
    "\u200f\u200e\u061c",  # RTL/LTR marks, Arabic letter mark
    "\u200b\u200c\u200d\ufeff",  # zero-width, BOM
    "\U0001d56c\U0001f4a9\U0001f3f3\ufe0f\u200d\U0001f308",
    "e\u0301" * 50,  # combining marks
    "' OR '1'='1' --",
    "../../../etc/passwd",
    "%s%s%n%x",
    "${jndi:ldap://127.0.0.1/a}",
    "<script>alert(1)</script>",
    "{{7*7}}",
    "pulse:account:*",
    "a" * 201,
    "b" * 1025,
    "c" * 4097,
    "d" * 70_000,
]

# Raw JSON text: not all of these can be written by a JSON encoder.
RAW_TOKENS = [
    '"\\ud800"',  # lone high surrogate
    '"\\udfff"',  # lone low surrogate
    '"\\ud83d\\ude00"',  # a valid pair
    '"\\u0000"',
    "1e400",
    "-1e400",
    "1e-400",
    "-0",
    "NaN",
    "Infinity",
    "-Infinity",
    "123456789012345678901234567890",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "0x10",
    "1_000",
    "01",
    ".5",
    "true",
    "false",
    "null",
    "[]",
    "{}",
    '{"$ne": null}',
    '["a", 1, null]',
    "undefined",
    "'single'",
    '"unterminated',
]

TIMESTAMPS = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+23:59",
    "9999-12-31T23:59:59.999999Z",
    "9999-12-31T23:59:59-23:59",
    "1969-12-31T23:59:59Z",
    "1970-01-01T00:00:00Z",
    "2099-12-31T23:59:59Z",
    "2100-01-01T00:00:00Z",
    "0000-00-00T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-07-01T24:00:01Z",
    "2026-07-01T00:00:60Z",
    "2026-07-01T00:00:00",  # naive
    "2026-07-01",
    "2026-07-01T00:00:00+99:00",
    "+275760-09-13T00:00:00Z",
    "-000001-01-01T00:00:00Z",
    "2026-07-01T00:00:00.0000000000000000001Z",
    "now",
    "1e20",
]
TIMESTAMP_NUMBERS = ["0", "-1", "1e20", "253402300800", "-62135596800", "1.5e9", "NaN"]


def _json_string(text: str, ascii_only: bool) -> str:
    return json.dumps(text, ensure_ascii=ascii_only)


def _nested(depth: int, kind: str) -> str:
    if kind == "array":
        return "[" * depth + "1" + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


raw_values: st.SearchStrategy[str] = st.one_of(
    st.builds(_json_string, st.sampled_from(HOSTILE_STRINGS), st.booleans()),
    st.builds(_json_string, st.text(max_size=40), st.booleans()),
    st.builds(_json_string, st.sampled_from(TIMESTAMPS), st.just(True)),
    st.sampled_from(TIMESTAMP_NUMBERS),
    st.sampled_from(RAW_TOKENS),
    st.integers(-(2**80), 2**80).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.builds(
        _nested,
        st.sampled_from([2, 50, 199, 201, 1023, 1025, 5000]),
        st.sampled_from(["array", "object"]),
    ),
    st.lists(st.sampled_from(HOSTILE_STRINGS[:12]), max_size=3).map(json.dumps),
    st.dictionaries(st.sampled_from(["a", "b", "\x00", ""]), st.integers(), max_size=3).map(
        json.dumps
    ),
)
"""One JSON value as raw text, from merely odd to unparseable."""


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            paths += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths += _paths(item, (*prefix, index))
    return paths


def _at(document: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        document = document[part]
    return document


def _replaced(document: Any, path: tuple[Any, ...], replacement: Any) -> Any:
    if not path:
        return replacement
    copy: Any = dict(document) if isinstance(document, dict) else list(document)
    copy[path[0]] = _replaced(document[path[0]], path[1:], replacement)
    return copy


@st.composite
def damaged(draw: st.DrawFn, kind: TopicKind) -> tuple[str, bytes]:
    """A payload of the topic with one value replaced by a raw token, or a key added or
    removed; returns (what was done, message bytes)."""
    shape = draw(st.sampled_from(SHAPES[kind]))()
    action = draw(st.sampled_from(["replace", "replace", "replace", "add", "remove"]))
    if action == "remove":
        path = draw(
            st.sampled_from([p for p in _paths(shape) if isinstance(_at(shape, p[:-1]), dict)])
        )
        parent = {k: v for k, v in _at(shape, path[:-1]).items() if k != path[-1]}
        removed = _replaced(shape, path[:-1], parent)
        return f"remove {'.'.join(map(str, path))}", json.dumps(removed).encode()
    if action == "add":
        name = draw(st.sampled_from(["surprise", "__proto__", "type", "", "\x00", "a" * 5000]))
        token = draw(raw_values)
        text = json.dumps(shape)
        return f"add {name!r}", (text[:-1] + f", {json.dumps(name)}: {token}}}").encode()
    path = draw(st.sampled_from(_paths(shape)))
    token = draw(raw_values)
    text = json.dumps(_replaced(shape, path, PLACEHOLDER))
    return (
        f"replace {'.'.join(map(str, path))}",
        text.replace(_PLACEHOLDER_JSON, token, 1).encode("utf-8", "surrogatepass"),
    )


_Mangler = Callable[[st.DrawFn, bytes, int], bytes]


def _deeply_nested(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(100, 20_000))
    return b'{"a":' * depth + b"1" + b"}" * depth


_MANGLERS: dict[str, _Mangler] = {
    "cut": lambda draw, valid, _: valid[: draw(st.integers(0, len(valid) - 1))],
    "array": lambda draw, valid, _: b"[" + valid + b"]",
    "string": lambda draw, valid, _: json.dumps(valid.decode()).encode(),
    "scalar": lambda draw, valid, _: draw(st.sampled_from([b"0", b"1e400", b"null", b"true"])),
    "bom": lambda draw, valid, _: b"\xef\xbb\xbf" + valid,
    "oversized": lambda draw, valid, limit: (
        valid[:-1] + b" " * draw(st.integers(limit - len(valid) + 1, 3 * limit)) + b"}"
    ),
    "huge-string": lambda draw, valid, limit: (
        valid[:-1] + b', "comment": "' + b"x" * draw(st.integers(limit + 1, 3 * limit)) + b'"}'
    ),
    "latin1": lambda draw, valid, _: valid.replace(b'"', b'"\xe9', 1),
    "bytes": lambda draw, valid, _: draw(st.binary(min_size=1, max_size=300)),
    "empty": lambda draw, valid, _: b"",
    "nested": lambda draw, valid, _: _deeply_nested(draw),
    "two-objects": lambda draw, valid, _: valid + valid,
    "nul-suffix": lambda draw, valid, _: valid + b"\x00",
}


@st.composite
def mangled(draw: st.DrawFn, kind: TopicKind, max_bytes: int) -> tuple[str, bytes]:
    """A whole-message problem: cut, wrapped, padded past the limit, not JSON, not UTF-8."""
    valid = json.dumps(draw(st.sampled_from(SHAPES[kind]))()).encode()
    how = draw(st.sampled_from(sorted(_MANGLERS)))
    return how, _MANGLERS[how](draw, valid, max_bytes)


def hostile_messages(kind: TopicKind, max_bytes: int) -> st.SearchStrategy[tuple[str, bytes]]:
    return st.one_of(damaged(kind), damaged(kind), mangled(kind, max_bytes))


odd_ids: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(
        [
            "\u202eemca",
            "\u200f\u061c\u05d0\u05d1",
            "\U0001f4a9 corp",
            "e\u0301" * 50,
            "' OR '1'='1' --",
            "../../../etc/passwd",
            "%s%n",
            "${jndi:ldap://127.0.0.1/a}",
            "<script>alert(1)</script>",
            "pulse:account:*",
            "a/b?c=d#e",
            "acme\u2028corp",
            "x" * 200,
        ]
    ),
    st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=60)
    .map(str.strip)
    .filter(bool),
)
"""Account ids that are legal but unlike anything a test would pick."""


FUZZ_COUNTS: Counter[str] = Counter()
"""Fuzz inputs tried, by test; printed at the end of the run (see conftest)."""

LONG = os.environ.get("PULSE_LONG_TESTS") == "1"
