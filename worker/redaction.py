"""Credentials in URLs, found and hidden in linear time, in any text.

Every log line passes through this (``worker.logs``), and a log line can hold text a job chose: a
30,000-character job id or function name. A regular expression that backtracks over such text
(a scheme, then a user, then a password, then ``@``) takes quadratic time, which once kept a
worker's parent busy for half a minute. Here each ``://`` is located with ``str.find`` and its
authority (up to the next ``/``, ``?``, ``#``, quote or blank) is matched once; no character is
examined more than a constant number of times. The same rule serves ``doctor`` and ``describe``.
"""

from __future__ import annotations

import re

REDACTED = "***"
_AUTHORITY = re.compile(r"[^/?#\s\"'<>\\]*")
# Query parameters that carry credentials (?api_key=..., &token=..., &sig=...). Anchored on ? or &,
# with one unbacktracked run after '=': linear.
_SECRET_QUERY = re.compile(
    r"(?i)([?&](?:api[_-]?key|access[_-]?token|auth|key|password|passwd|pwd|secret|sig|signature|token)=)"
    r"[^&#\s\"'<>]+"
)


def _hide_userinfo(authority: str) -> str:
    at = authority.rfind("@")
    if at == -1:
        return authority
    userinfo, host = authority[:at], authority[at + 1 :]
    user, colon, _ = userinfo.partition(":")
    # user:password keeps the user (it helps debugging); a lone user part is a token: hide it all.
    return f"{user}:{REDACTED}@{host}" if colon else f"{REDACTED}@{host}"


def redact_urls(text: str) -> str:
    """``text`` with the user-info password of every URL, and credential query values, as ``***``."""
    if "://" not in text:
        return _SECRET_QUERY.sub(lambda m: m[1] + REDACTED, text) if "=" in text else text
    parts: list[str] = []
    position = 0
    found = text.find("://")
    while found != -1:
        start = found + 3
        match = _AUTHORITY.match(text, start)
        end = match.end() if match else start
        parts.append(text[position:start])
        parts.append(_hide_userinfo(text[start:end]))
        position = end
        found = text.find("://", max(end - 1, start))  # "b://": a scheme can end the authority
    parts.append(text[position:])
    return _SECRET_QUERY.sub(lambda m: m[1] + REDACTED, "".join(parts))
