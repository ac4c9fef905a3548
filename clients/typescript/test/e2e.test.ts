/**
 * End to end against a real redis-server and the real Python worker in burst mode: TypeScript
 * enqueues, Python runs, TypeScript reads the result, the progress and failures.
 */
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { deflateSync } from "node:zlib";
import type { Redis } from "ioredis";
import {
  InvalidRequestError, JobNotFoundError, JobTimeoutError, RedisError,
  enqueueCurriculum, getJob, idempotencyKey, validateRequest, waitForJob, type Progress,
} from "../src/index.js";
import { RedisServer, runBurstWorker, runPython } from "./helpers.js";

let server: RedisServer;
let redis: Redis;

before(async () => {
  server = await new RedisServer().start();
  redis = server.client();
});
after(() => {
  redis.disconnect();
  server.stop();
});
beforeEach(async () => {
  await redis.flushall();
});

test("a job enqueued from TypeScript is run by the Python worker; its result and progress are read back", async () => {
  const { jobId, status } = await enqueueCurriculum(redis, { topic: "Knitting for beginners", duration_weeks: 3 });
  assert.equal(status, "queued");
  assert.deepEqual(await redis.lrange("rq:queue:curriculum_generation", 0, -1), [jobId]);

  const worker = await runBurstWorker(server.url);
  assert.equal(worker.code, 0, worker.logs);
  const state = await getJob(redis, jobId);
  assert.equal(state.status, "finished", worker.logs);
  assert.equal(state.error, null);
  assert.equal(state.result?.topic, "Knitting for beginners");
  assert.equal(state.result?.schedule.length, 3);
  assert.ok(state.progress && state.progress.total > 0 && state.progress.done === state.progress.total);
});

test("waitForJob reports progress while the worker runs and returns the finished job", async () => {
  const { jobId } = await enqueueCurriculum(redis, { topic: "Sourdough baking", objectives: ["Keep a starter"] });
  const seen: Progress[] = [];
  const worker = runBurstWorker(server.url);
  const state = await waitForJob(redis, jobId, { timeoutMs: 120_000, pollMs: 50, onProgress: (p) => seen.push(p) });
  assert.equal((await worker).code, 0);
  assert.equal(state.status, "finished");
  assert.equal(state.result?.topic, "Sourdough baking");
  assert.ok(seen.length >= 1);
  assert.deepEqual(seen.at(-1), state.progress);
});

test("an invalid request is refused with its field paths before anything reaches Redis", async () => {
  const bad = { topic: " ab ", duration_weeks: 10.5, objectives: ["ok", "x".repeat(301)], colour: "red" };
  await assert.rejects(enqueueCurriculum(redis, bad as never), (error: unknown) => {
    assert.ok(error instanceof InvalidRequestError);
    assert.deepEqual(error.fields, ["colour", "duration_weeks", "objectives[1]", "topic"]);
    assert.ok(!error.message.includes("x".repeat(20)), "the message must not echo values");
    return true;
  });
  assert.equal(await redis.dbsize(), 0);
});

test("a duplicate returns the first job's id, also after it finished; dedupe: false makes a new job", async () => {
  const request = { topic: "Knitting", hours_per_week: 5.0 };
  const first = await enqueueCurriculum(redis, request);
  const again = await enqueueCurriculum(redis, { hours_per_week: 5, topic: "  Knitting " });
  assert.deepEqual(again, first);
  assert.equal(await redis.llen("rq:queue:curriculum_generation"), 1);

  assert.equal((await runBurstWorker(server.url)).code, 0);
  assert.deepEqual(await enqueueCurriculum(redis, request), { jobId: first.jobId, status: "finished" });

  const separate = await enqueueCurriculum(redis, request, { dedupe: false });
  assert.notEqual(separate.jobId, first.jobId);
  assert.equal(await redis.llen("rq:queue:curriculum_generation"), 1);
});

test("concurrent enqueues of one request create one job", async () => {
  const outcomes = await Promise.all(Array.from({ length: 25 }, () => enqueueCurriculum(redis, { topic: "Knitting" })));
  assert.equal(new Set(outcomes.map((o) => o.jobId)).size, 1);
  assert.equal(await redis.llen("rq:queue:curriculum_generation"), 1);
});

test("Python and TypeScript enqueue the same request as the same job, whichever goes first", async () => {
  const request = { topic: "Caf\u00e9 latte art \u2615", hours_per_week: 2.5, objectives: ["Pour a heart", "Steam milk"] };
  const fromTs = await enqueueCurriculum(redis, request);
  const code = `import json, redis
from worker.client import enqueue_curriculum
r = redis.Redis.from_url(${JSON.stringify(server.url)})
print(json.dumps(enqueue_curriculum(r, json.loads(${JSON.stringify(JSON.stringify(request))}))))`;
  const fromPython = JSON.parse(runPython(code, server.url)) as [string, string];
  assert.deepEqual(fromPython, [fromTs.jobId, "queued"]);

  await redis.flushall();
  const pyFirst = JSON.parse(runPython(code, server.url)) as [string, string];
  assert.deepEqual(await enqueueCurriculum(redis, request), { jobId: pyFirst[0], status: "queued" });
});

test("a job that failed is read with its reason, and a duplicate of it gets a new job", async () => {
  // A hash written as the wire format says, naming an unregistered function: the worker refuses it.
  const id = "refused-job-1";
  const data = deflateSync(Buffer.from(JSON.stringify(["os.getcwd", null, [], {}])));
  await redis.hset(`rq:job:${id}`, "status", "queued", "origin", "curriculum_generation", "data", data,
    "created_at", "2026-01-01T00:00:00.000000Z", "enqueued_at", "2026-01-01T00:00:00.000000Z");
  await redis.rpush("rq:queue:curriculum_generation", id);
  await redis.sadd("rq:queues", "rq:queue:curriculum_generation");
  assert.equal((await runBurstWorker(server.url)).code, 0);
  const state = await getJob(redis, id);
  assert.equal(state.status, "failed");
  assert.match(state.error ?? "", /not a registered job function/);
  assert.equal(state.result, null);

  const request = validateRequest({ topic: "Knitting" });
  await redis.set(idempotencyKey(request), id);
  const replacement = await enqueueCurriculum(redis, request);
  assert.notEqual(replacement.jobId, id);
  assert.equal(await redis.get(idempotencyKey(request)), replacement.jobId);
});

test("unknown ids, malformed ids, timeouts and aborts are typed errors", async () => {
  await assert.rejects(getJob(redis, "no-such-job"), JobNotFoundError);
  await assert.rejects(getJob(redis, "../etc"), InvalidRequestError);
  const { jobId } = await enqueueCurriculum(redis, { topic: "Knitting" });
  await assert.rejects(waitForJob(redis, jobId, { timeoutMs: 200, pollMs: 50 }), (error: unknown) => {
    assert.ok(error instanceof JobTimeoutError);
    assert.equal(error.lastStatus, "queued");
    return true;
  });
  const controller = new AbortController();
  setTimeout(() => controller.abort(new Error("user went away")), 100);
  await assert.rejects(waitForJob(redis, jobId, { signal: controller.signal, pollMs: 50 }), /user went away/);
  assert.equal((await getJob(redis, jobId)).status, "queued", "giving up leaves the job queued");
});

test("an unreachable Redis is a RedisError", async () => {
  const dead = new RedisServer();
  const client = dead.client({ port: 1, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  try {
    await assert.rejects(enqueueCurriculum(client, { topic: "Knitting" }), RedisError);
    await assert.rejects(getJob(client, "abc"), RedisError);
  } finally {
    client.disconnect();
    dead.stop();
  }
});
