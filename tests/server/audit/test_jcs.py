"""RFC 8785 canonical JSON: the RFC's number table, published documents, and round-trip properties."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.audit.jcs import NotCanonicalisableError, canonicalize, format_number, parse

VECTORS: dict[str, Any] = json.loads((Path(__file__).parent / "vectors" / "jcs.json").read_text())


@pytest.mark.parametrize(("bits", "expected"), VECTORS["numbers"], ids=[n[0] for n in VECTORS["numbers"]])
def test_numbers_print_as_ecmascript_does(bits: str, expected: str) -> None:
    (value,) = struct.unpack(">d", bytes.fromhex(bits))
    assert format_number(value) == expected


@pytest.mark.parametrize("case", VECTORS["documents"], ids=lambda c: c["name"])
def test_published_documents_canonicalise_exactly(case: dict[str, str]) -> None:
    assert canonicalize(json.loads(case["input"])) == case["output"].encode("utf-8")


def test_members_sort_by_utf16_code_units_not_code_points() -> None:
    # U+FB33 sorts after U+1F602 in UTF-16 (0xFB33 > 0xD83D) though its code point is smaller.
    assert canonicalize({"\ufb33": 1, "\U0001f602": 2}) == '{"\U0001f602":2,"\ufb33":1}'.encode()


def test_integers_and_floats_share_one_form() -> None:
    assert canonicalize([1, 1.0, -0.0, 2**53, 1e21]) == b"[1,1,0,9007199254740992,1e+21]"


def test_large_integral_doubles_parse_back_as_doubles() -> None:
    text = canonicalize([2.0**68, 1e20])
    assert text == b"[295147905179352830000,100000000000000000000]"
    assert canonicalize(parse(text)) == text


@pytest.mark.parametrize(
    "value", [math.nan, math.inf, -math.inf, 2**53 + 1, b"bytes", {1: "x"}, "\ud800", {1.5}]
)
def test_values_without_a_canonical_form_are_refused(value: object) -> None:
    with pytest.raises(NotCanonicalisableError):
        canonicalize({"v": value})


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_canonical_form_parses_back_to_the_same_value_and_is_a_fixed_point(value: Any) -> None:
    text = canonicalize(value)
    parsed = parse(text)
    assert canonicalize(parsed) == text

    def same(a: Any, b: Any) -> bool:
        if isinstance(a, float) or isinstance(b, float):
            return isinstance(b, int | float) and float(a) == float(b)
        if isinstance(a, list):
            return (
                isinstance(b, list)
                and len(a) == len(b)
                and all(same(x, y) for x, y in zip(a, b, strict=True))
            )
        if isinstance(a, dict):
            return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        return bool(a == b)

    assert same(value, parsed)


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_double_round_trips_through_its_shortest_form(value: float) -> None:
    assert float(format_number(value)) == value or (value == 0 and format_number(value) == "0")
