"""Shared test vectors for every client of the wire format (tests/vectors/*.json).

The TypeScript client's tests read the same files. ``python -m tests.wire_vectors`` rewrites the
expected values of canonical.json from the Python implementation (after a deliberate change, such
as a new ``PROMPT_VERSION``); the inputs and requests.json are written by hand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jobs.canonical import canonical_digest, canonical_json
from jobs.generators import PROMPT_VERSION
from worker.client import validate_request
from worker.idempotency import KEY_PREFIX, idempotency_document, idempotency_key

VECTORS = Path(__file__).parent / "vectors"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return data


def expected(request: dict[str, Any]) -> dict[str, Any]:
    """What every client must compute for ``request``: normalized form, canonical text, digest, key."""
    body = validate_request(request)
    document = idempotency_document(body)
    return {
        "normalized": body,
        "canonical": canonical_json(document),
        "digest": canonical_digest(document),
        "key": idempotency_key(body),
    }


def dump(data: dict[str, Any]) -> str:
    """One vector per line: diffs stay readable. Non-ASCII is escaped so the bytes are unambiguous."""
    lines = [json.dumps(vector, ensure_ascii=True) for vector in data["vectors"]]
    head = {key: value for key, value in data.items() if key != "vectors"}
    return json.dumps(head, ensure_ascii=True)[:-1] + ', "vectors": [\n' + ",\n".join(lines) + "\n]}\n"


def main() -> None:
    data = load("canonical.json")
    data["prompt_version"], data["key_prefix"] = PROMPT_VERSION, KEY_PREFIX
    data["vectors"] = [{"name": v["name"], "request": v["request"], **expected(v["request"])}
                       for v in data["vectors"]]
    (VECTORS / "canonical.json").write_text(dump(data), encoding="utf-8")
    (VECTORS / "requests.json").write_text(dump(load("requests.json")), encoding="utf-8")


if __name__ == "__main__":
    main()
