/**
 * RFC 8785 (JCS) canonical JSON, the form idempotency keys are digested in (docs/wire-format.md).
 * JCS is defined by JSON.stringify's rules for strings and numbers, so only the member order and
 * the refusals need code here; the Python side (jobs/canonical.py) implements the same.
 */
import { createHash } from "node:crypto";

const LONE_SURROGATE = /[\ud800-\udfff]/u;

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === "boolean") return String(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError("NaN and infinity have no JSON form");
    return JSON.stringify(value);
  }
  if (typeof value === "string") {
    if (LONE_SURROGATE.test(value)) throw new TypeError("string holds an unpaired surrogate");
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object") {
    // Default sort compares UTF-16 code units, which is what RFC 8785 asks for.
    const keys = Object.keys(value).sort();
    const record = value as Record<string, unknown>;
    return `{${keys.map((k) => `${canonicalJson(k)}:${canonicalJson(record[k])}`).join(",")}}`;
  }
  throw new TypeError(`not a JSON value: ${typeof value}`);
}

/** sha256 (hex) of the UTF-8 bytes of the canonical JSON. */
export function canonicalDigest(value: unknown): string {
  return createHash("sha256").update(canonicalJson(value), "utf8").digest("hex");
}
