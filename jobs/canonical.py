"""Canonical JSON (RFC 8785, "JCS") for digests that clients in other languages must reproduce.

An idempotency key is a digest of a request, and the TypeScript client computes the same key
without Python. ``json.dumps`` cannot be that canonical form: it writes ``5.0`` where JavaScript
writes ``5``, and switches to exponents at other magnitudes. JCS is defined by what ECMAScript's
``JSON.stringify`` does, so a JavaScript client gets it for free and Python implements it here:

- objects: members sorted by key, compared as UTF-16 code units; no whitespace anywhere;
- strings: UTF-8, only ``"``, ``\\`` and U+0000..U+001F escaped (``\\b \\f \\n \\r \\t``, else ``\\u00xx``);
- numbers: ECMAScript ``Number.prototype.toString``: ``5.0`` is ``5``, ``1e21`` is ``1e+21``;
- no NaN or infinity, no unpaired surrogates, no integers beyond 2**53 (they are refused).
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

_MAX_SAFE_INT = 2**53 - 1


def canonical_json(value: Any) -> str:
    """``value`` (JSON types only) as its RFC 8785 canonical text."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int):
        if abs(value) > _MAX_SAFE_INT:
            raise ValueError("integer out of the range every JSON reader keeps exactly")
        return str(value)
    if isinstance(value, float):
        return es_number(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(canonical_json(item) for item in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda key: key.encode("utf-16-be", "surrogatepass"))
        return "{" + ",".join(f"{_string(key)}:{canonical_json(value[key])}" for key in keys) + "}"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def canonical_digest(value: Any) -> str:
    """sha256 (hex) of the UTF-8 bytes of ``canonical_json(value)``."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def _string(text: str) -> str:
    if any(0xD800 <= ord(char) <= 0xDFFF for char in text):
        raise ValueError("string holds an unpaired surrogate")
    # json.dumps escapes exactly JCS's set (quote, backslash, C0 controls, lowercase hex) when
    # ensure_ascii is off; it leaves U+007F and U+2028 alone, as JSON.stringify does.
    return json.dumps(text, ensure_ascii=False)


def es_number(value: float) -> str:
    """ECMAScript's Number::toString for a finite double (the shortest digits that round-trip)."""
    if not math.isfinite(value):
        raise ValueError("NaN and infinity have no JSON form")
    if value == 0:
        return "0"
    if value < 0:
        return "-" + es_number(-value)
    digits, point = _shortest_digits(value)  # value == 0.<digits> * 10**point
    count = len(digits)
    if count <= point <= 21:
        return digits + "0" * (point - count)
    if 0 < point <= 21:
        return digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return "0." + "0" * -point + digits
    exponent = point - 1
    mantissa = digits if count == 1 else digits[0] + "." + digits[1:]
    return f"{mantissa}e{'+' if exponent >= 0 else '-'}{abs(exponent)}"


def _shortest_digits(value: float) -> tuple[str, int]:
    """Python's repr already holds the shortest round-trip digits; take them apart."""
    mantissa, _, exp = repr(value).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits, point = whole + fraction, len(whole) + (int(exp) if exp else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    return stripped.rstrip("0"), point
