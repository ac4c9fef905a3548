/** The shared vectors in tests/vectors/ (pytest checks the Python side against the same files). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { canonicalDigest, canonicalJson } from "../src/canonical.js";
import { InvalidRequestError } from "../src/errors.js";
import { validateRequest } from "../src/request.js";
import { IDEMPOTENCY_PREFIX, PROMPT_VERSION, idempotencyDocument, idempotencyKey } from "../src/wire.js";
import { loadVectors } from "./helpers.js";

interface Vectors<T> { vectors: T[]; prompt_version?: string; key_prefix?: string }
interface CanonicalVector { name: string; request: unknown; normalized: unknown; canonical: string; digest: string; key: string }

test("numbers are written as ECMAScript writes them (RFC 8785)", () => {
  for (const v of loadVectors<Vectors<{ literal: string; canonical: string }>>("numbers.json").vectors) {
    assert.equal(canonicalJson(JSON.parse(v.literal)), v.canonical, v.literal);
  }
});

test("each request vector is accepted or refused naming exactly its fields", () => {
  const data = loadVectors<Vectors<{ name: string; request: unknown; invalid_fields: string[] }>>("requests.json");
  for (const v of data.vectors) {
    let fields: readonly string[] = [];
    try {
      validateRequest(v.request);
    } catch (error) {
      assert.ok(error instanceof InvalidRequestError, v.name);
      fields = error.fields;
    }
    assert.deepEqual(fields, v.invalid_fields, v.name);
  }
});

test("normalized form, canonical JSON, digest and key agree with Python on every vector", () => {
  const data = loadVectors<Vectors<CanonicalVector>>("canonical.json");
  assert.equal(data.prompt_version, PROMPT_VERSION, "PROMPT_VERSION changed in Python: update src/wire.ts");
  assert.equal(data.key_prefix, IDEMPOTENCY_PREFIX);
  assert.ok(data.vectors.length >= 20);
  for (const v of data.vectors) {
    const body = validateRequest(v.request);
    assert.deepEqual(body, v.normalized, v.name);
    assert.equal(canonicalJson(idempotencyDocument(body)), v.canonical, v.name);
    assert.equal(canonicalDigest(idempotencyDocument(body)), v.digest, v.name);
    assert.equal(idempotencyKey(body), v.key, v.name);
  }
});

test("objective order and Unicode normalization change the key; member order does not", () => {
  const key = (request: unknown): string => idempotencyKey(validateRequest(request));
  assert.notEqual(key({ topic: "Knitting", objectives: ["a", "b"] }), key({ topic: "Knitting", objectives: ["b", "a"] }));
  assert.notEqual(key({ topic: "Caf\u00e9 knitting" }), key({ topic: "Cafe\u0301 knitting" }));
  assert.equal(key({ topic: "Knitting", level: "advanced", duration_weeks: 3 }),
    key({ duration_weeks: 3, level: "advanced", topic: "Knitting" }));
});
