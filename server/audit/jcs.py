"""RFC 8785 JSON Canonicalization Scheme (JCS): one byte string per JSON value.

Audit events are hashed as canonical JSON so that any verifier, in any language, rebuilds the exact
bytes from the parsed event. The rules (RFC 8785 §3.2):
- no whitespace; object members sorted by their names' UTF-16 code units (§3.2.3);
- strings: only `"`, `\\` and control characters below U+0020 are escaped, the latter with the short
  forms \\b \\t \\n \\f \\r or else lowercase \\u00xx; everything else is literal UTF-8 (§3.2.2.2);
- numbers are IEEE-754 doubles printed as ECMAScript's Number.prototype.toString does (§3.2.2.3);
  NaN and infinities are not JSON, and integers beyond ±2^53 would lose precision in a double, so
  both are refused rather than silently altered (I-JSON, RFC 7493 §2.2).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TypeAlias

__all__ = ["JsonValue", "NotCanonicalisableError", "canonical_string", "canonicalize", "parse"]

JsonValue: TypeAlias = "bool | int | float | str | Sequence[JsonValue] | Mapping[str, JsonValue] | None"

MAX_SAFE_INTEGER = 2**53


class NotCanonicalisableError(ValueError):
    """The value has no RFC 8785 form (NaN, infinity, huge integer, lone surrogate, non-JSON type)."""


_SHORT_ESCAPES = {
    0x08: "\\b",
    0x09: "\\t",
    0x0A: "\\n",
    0x0C: "\\f",
    0x0D: "\\r",
    0x22: '\\"',
    0x5C: "\\\\",
}
_ESCAPES = {code: _SHORT_ESCAPES.get(code, f"\\u{code:04x}") for code in range(0x20)}
_ESCAPES[0x22] = '\\"'
_ESCAPES[0x5C] = "\\\\"


def canonicalize(value: object) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of `value` (dicts, lists/tuples, str, int, float, bool, None)."""
    parts: list[str] = []
    _write(value, parts)
    try:
        return "".join(parts).encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate somewhere in a string
        raise NotCanonicalisableError(f"string is not valid Unicode: {exc.reason}") from exc


def parse(text: str | bytes) -> JsonValue:
    """Parse JSON the way RFC 8785 reads numbers: as doubles.

    Integers within ±2^53 stay `int` (exact either way); larger ones become the nearest double, as
    in ECMAScript, so that `canonicalize(parse(canonicalize(x))) == canonicalize(x)` for every x.
    """

    def number(literal: str) -> int | float:
        value = int(literal)
        return value if abs(value) <= MAX_SAFE_INTEGER else float(value)

    parsed: JsonValue = json.loads(text, parse_int=number)
    return parsed


def _write(value: object, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise NotCanonicalisableError(f"integer {value} is outside ±2^53 and cannot be an exact double")
        out.append(str(int(value)))
    elif isinstance(value, float):
        out.append(format_number(value))
    elif isinstance(value, Mapping):
        _object(value, out)
    elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        out.append("[")
        for position, item in enumerate(value):
            if position:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise NotCanonicalisableError(f"{type(value).__name__} is not a JSON value")


def _object(value: Mapping[object, object], out: list[str]) -> None:
    for key in value:
        if not isinstance(key, str):
            raise NotCanonicalisableError(f"object member name {key!r} is not a string")
    # UTF-16BE bytes compare exactly as UTF-16 code units do (RFC 8785 §3.2.3).
    names = sorted(value, key=_utf16_key)
    out.append("{")
    for position, name in enumerate(names):
        if position:
            out.append(",")
        out.append(_string(str(name)))
        out.append(":")
        _write(value[name], out)
    out.append("}")


def _utf16_key(name: object) -> bytes:
    assert isinstance(name, str)
    try:
        return name.encode("utf-16-be")
    except UnicodeEncodeError as exc:
        raise NotCanonicalisableError(f"object member name is not valid Unicode: {exc.reason}") from exc


def canonical_string(value: str) -> bytes:
    """The canonical UTF-8 bytes of one JSON string (quotes included)."""
    try:
        return _string(value).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NotCanonicalisableError(f"string is not valid Unicode: {exc.reason}") from exc


def _string(value: str) -> str:
    if value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'  # the common case: nothing to escape
    return '"' + "".join(_ESCAPES.get(ord(char), char) for char in value) + '"'


def format_number(value: float) -> str:
    """ECMAScript Number::toString for a finite double (ECMA-262 §7.1.12.1, RFC 8785 §3.2.2.3)."""
    if math.isnan(value) or math.isinf(value):
        raise NotCanonicalisableError(f"{value} is not a JSON number")
    if value == 0:
        return "0"  # also for -0
    sign = "-" if value < 0 else ""
    # repr() gives the shortest digit string that round-trips, which is what ECMAScript asks for.
    _sign, digit_tuple, exponent = Decimal(repr(abs(value))).as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    exponent += len(digit_tuple) - len(digits)
    k = len(digits)
    n = exponent + k  # value = 0.digits × 10^n
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
        text = f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + text
