/**
 * The precompiled validator (ECMA-262 regexes, ajv) and the worker's pydantic model (Python re) name the
 * same bad fields for thousands of generated requests, valid and not. pytest runs the same kind of
 * comparison between pydantic and Python's jsonschema; this one covers the JavaScript engine.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { InvalidRequestError } from "../src/errors.js";
import { WHITESPACE, validateRequest } from "../src/request.js";
import { ROOT, python } from "./helpers.js";

/** A small deterministic PRNG (mulberry32): the same requests on every run. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = prng(20261126);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
const CHARS = [...WHITESPACE, "\ufeff", "\u200b", "\ud800", "\udfff", "\u{1f9f6}", "\u00e9", "a", "b", "Z", "0", "-", ".", "\u0000", "\u007f"];
const text = (max: number): string => Array.from({ length: Math.floor(random() * (max + 1)) }, () => pick(CHARS)).join("");
const strings = (): string =>
  pick([() => text(8), () => text(3) + "ab" + text(3), () => "x".repeat(pick([2, 3, 199, 200, 201, 299, 300, 301]))])();
const numbers = (): unknown => pick([0, 1, 4, 10, 10.5, 52, 53, 40, 40.01, 0.99, -1, 1e300, 2.5, true, false, null, "4"]);
const anything = (): unknown => pick([numbers, strings, () => [strings()], () => ({}), () => null])();
const WILD: Record<string, () => unknown> = {
  topic: () => pick([strings, strings, anything])(),
  level: () => pick(["beginner", "advanced", "Beginner", "", 1, null]),
  duration_weeks: numbers,
  hours_per_week: numbers,
  objectives: () => pick([() => [strings()], () => [strings(), strings()], () => Array(pick([19, 20, 21])).fill("o"), anything])(),
  language: () => pick(["en", "pt-BR", "zh-Hant", "en\n", "\nen", "e", "english", "en-", "EN-us", strings()]),
  colour: anything,
};

function generate(): unknown {
  if (random() < 0.03) return anything();
  const request: Record<string, unknown> = { topic: "Knitting" };
  for (let i = 0, n = 1 + Math.floor(random() * 2); i < n; i++) {
    const name = pick(Object.keys(WILD));
    request[name] = (WILD[name] as () => unknown)();
  }
  if (random() < 0.05) delete request["topic"];
  return request;
}

function tsFields(request: unknown): string[] {
  try {
    validateRequest(request);
    return [];
  } catch (error) {
    assert.ok(error instanceof InvalidRequestError);
    return [...error.fields];
  }
}

test("ajv and the worker name the same bad fields for 3000 generated requests", () => {
  const requests = Array.from({ length: 3000 }, generate);
  const code = `import json, sys
from jobs.models import parse_request
from worker.errors import RequestInvalid
def fields(request):
    try:
        parse_request(request)
    except RequestInvalid as exc:
        return sorted({p.split(": ", 1)[0] for p in exc.problems})
    return []
print(json.dumps([fields(r) for r in json.load(sys.stdin)]))`;
  const run = spawnSync(python(), ["-c", code], { cwd: ROOT, input: JSON.stringify(requests), encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr);
  const worker = JSON.parse(run.stdout) as string[][];
  const disagreements = requests
    .map((request, i) => ({ request, worker: worker[i], client: tsFields(request) }))
    .filter((row) => JSON.stringify(row.worker) !== JSON.stringify(row.client));
  assert.deepEqual(disagreements.slice(0, 5), []);
  const valid = worker.filter((f) => f.length === 0).length;
  assert.ok(valid > 300 && valid < 2700, `a useful mix of valid (${valid}) and invalid requests`);
});
