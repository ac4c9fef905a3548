"""The request rules that other languages must apply exactly as the worker does.

The JSON Schema published for clients (``curriculum-worker schema``) must reject exactly what
``CurriculumRequest`` rejects, and clients must normalize a request exactly as the worker does to
compute the same idempotency key. Everything here is therefore spelled so that any language can
reproduce it: the whitespace set is listed, not taken from a runtime's notion of "space", and the
patterns use only syntax ECMA-262 and Python's ``re`` read alike. docs/wire-format.md describes
the rules for client authors; tests/vectors/requests.json pins them.
"""

from __future__ import annotations

from typing import Any

# Whitespace, for stripping the topic and objectives: the characters Python's ``str.isspace`` knows,
# listed once so that a client in another language strips exactly the same (JavaScript's ``trim``
# differs: it keeps U+001C-U+001F and U+0085 and removes U+FEFF).
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def _char_class(chars: str) -> str:
    """``chars`` as the inside of a regex character class of ``\\uXXXX`` escapes and ranges."""
    codes, parts = sorted(map(ord, chars)), []
    while codes:
        end = 0
        while end + 1 < len(codes) and codes[end + 1] == codes[end] + 1:
            end += 1
        first, last = codes[0], codes[end]
        parts.append(f"\\u{first:04x}" + (f"-\\u{last:04x}" if last > first else ""))
        codes = codes[end + 1:]
    return "".join(parts)


_WS = _char_class(WHITESPACE)

# The patterns are published in the JSON Schema, so they are written in the part of regex syntax
# that ECMA-262 (what JSON Schema specifies; with the ``u`` flag, as ajv uses) and Python's ``re``
# (the worker's engine, ``regex_engine="python-re"``) read alike: ``\uXXXX`` escapes, ``[\s\S]``
# for "any character", and ``(?![\s\S])`` for "end of input", because Python's ``$`` also matches
# before a final newline. Both engines search (unanchored) unless the pattern says ``^``.
#: At least 3 characters once leading and trailing WHITESPACE is stripped.
TOPIC_PATTERN = f"^[{_WS}]*[^{_WS}][\\s\\S]+[^{_WS}]"
#: A BCP 47-like tag ("en", "pt-BR", "zh-Hant"); the value is used in model prompts, so keep it tame.
LANGUAGE_PATTERN = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}(?![\s\S])"
# Strings must be valid Unicode: pydantic refuses an unpaired surrogate ("\ud800" in JSON), so the
# schema says so too (with the ``u`` flag, ECMA-262 matches only unpaired surrogates here).
NO_LONE_SURROGATE: dict[str, Any] = {"not": {"pattern": "[\\ud800-\\udfff]"}}


def integral(value: object) -> object:
    """A JSON number with an integral value is an integer, whatever its spelling (``10``, ``10.0``,
    ``1e1``): JSON Schema says so, and a JavaScript client cannot tell them apart."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
