/**
 * cancelJob and push progress against a real redis-server and the real Python worker: a queued job
 * never starts, a running one stops (nothing requeued), and waitForJob learns of progress and the
 * end from the job's channel with polling all but off.
 */
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { deflateSync } from "node:zlib";
import type { Redis } from "ioredis";
import {
  CancelFailedError, DESCRIPTION, JobNotFoundError, cancelJob, enqueueCurriculum, getJob, waitForJob, type Progress,
} from "../src/index.js";
import { RedisServer, WorkerProcess, runBurstWorker, runPython } from "./helpers.js";

let server: RedisServer;
let redis: Redis;
const workers: WorkerProcess[] = [];

before(async () => {
  server = await new RedisServer().start();
  redis = server.client();
});
after(() => {
  for (const worker of workers) worker.stop();
  redis.disconnect();
  server.stop();
});
beforeEach(async () => {
  for (const worker of workers.splice(0)) worker.stop();
  await redis.flushall();
});

function startWorker(): WorkerProcess {
  const worker = new WorkerProcess(server.url);
  workers.push(worker);
  return worker;
}

/** A sleeping canary job, written as docs/wire-format.md says. */
async function enqueueCanary(id: string, sleepS: number): Promise<void> {
  const data = deflateSync(Buffer.from(JSON.stringify(["jobs.diagnostics.canary", null, [sleepS], {}])));
  const at = new Date().toISOString().replace("Z", "000Z");
  await redis.hset(`rq:job:${id}`, "status", "queued", "origin", "curriculum_generation", "data", data,
    "created_at", at, "enqueued_at", at, "description", "jobs.diagnostics.canary(\u2026)");
  await redis.rpush("rq:queue:curriculum_generation", id);
  await redis.sadd("rq:queues", "rq:queue:curriculum_generation");
}

test("a queued job canceled from TypeScript leaves its queue and is never run by a worker", async () => {
  const { jobId } = await enqueueCurriculum(redis, { topic: "Knitting" });
  assert.deepEqual(await cancelJob(redis, jobId), { jobId, action: "canceled", status: "canceled" });
  assert.equal(await redis.llen("rq:queue:curriculum_generation"), 0);
  assert.notEqual(await redis.zscore("rq:canceled:curriculum_generation", jobId), null);
  // Python's rq reads it as rq itself canceled it.
  const seen = runPython(`import redis
from worker.jsonjob import JsonJob
from rq.registry import CanceledJobRegistry
r = redis.Redis.from_url(${JSON.stringify(server.url)})
job = JsonJob.fetch(${JSON.stringify(jobId)}, connection=r)
print(job.get_status().value, job.is_canceled, CanceledJobRegistry("curriculum_generation", connection=r).get_job_ids(cleanup=False))`,
  server.url);
  assert.equal(seen.trim(), `canceled True ['${jobId}']`);

  const worker = await runBurstWorker(server.url);
  assert.equal(worker.code, 0, worker.logs);
  assert.ok(!worker.logs.includes("job.started"), worker.logs);
  assert.equal((await getJob(redis, jobId)).status, "canceled");
  assert.deepEqual(await cancelJob(redis, jobId), { jobId, action: "ended", status: "canceled" });
});

test("a running job is stopped by cancelJob, ends stopped, and is not requeued", async () => {
  const id = "ts-running-canary";
  await enqueueCanary(id, 120);
  const worker = startWorker();
  await worker.waitFor("job.started", id);
  assert.deepEqual(await cancelJob(redis, id), { jobId: id, action: "stopping", status: "started" });
  await worker.waitFor("job.stopped", id, 20_000);
  const state = await waitForJob(redis, id, { timeoutMs: 20_000 });
  assert.equal(state.status, "stopped");
  assert.equal(await redis.lpos("rq:queue:curriculum_generation", id), null);
  // A later job runs on the same worker; the stopped one stays stopped, started once.
  await enqueueCanary("ts-after-stop", 0);
  await worker.waitFor("job.finished", "ts-after-stop");
  assert.equal((await getJob(redis, id)).status, "stopped");
  assert.equal(worker.events("job.started").filter((e) => e["job_id"] === id).length, 1);
  assert.equal(worker.events("job.requeued").length + worker.events("job.retrying").length, 0);
});

test("cancelJob of an unknown id is JobNotFoundError; of a started job with no live worker, CancelFailedError", async () => {
  await assert.rejects(cancelJob(redis, "no-such-job"), JobNotFoundError);
  await enqueueCanary("orphan", 1);
  await redis.hset("rq:job:orphan", "status", "started", "worker_name", "gone-worker");
  await assert.rejects(cancelJob(redis, "orphan"), CancelFailedError);
});

test("waitForJob learns of progress and the end by push: it ends long before its next poll", async () => {
  const { jobId } = await enqueueCurriculum(redis, { topic: "Sourdough baking", duration_weeks: 2 });
  const seen: Progress[] = [];
  // Subscribed and waiting before any worker exists, with no deadline and the next poll an hour away:
  // only the job's channel can end this wait before the abort signal (which fails the test).
  const waiting = waitForJob(redis, jobId,
    { pollMs: 3_600_000, signal: AbortSignal.timeout(120_000), onProgress: (p) => seen.push(p) });
  await new Promise((r) => setTimeout(r, 200));
  startWorker();
  const state = await waiting;
  assert.equal(state.status, "finished");
  assert.ok(seen.length >= 2, `progress updates seen: ${seen.length}`);
  assert.deepEqual(seen.at(-1), state.progress);
});

test("the job hash's description names the function without the request", async () => {
  const { jobId } = await enqueueCurriculum(redis, { topic: "A very private topic" });
  assert.equal(await redis.hget(`rq:job:${jobId}`, "description"), DESCRIPTION);
  assert.equal(DESCRIPTION, "jobs.curriculum.generate_curriculum(\u2026)");
});

test("a Redis user who may not subscribe still waits to the end, by polling", async () => {
  await redis.call("ACL", "SETUSER", "nopubsub", "on", ">pw", "~*", "&*", "+@all", "-@pubsub");
  const limited = server.client({ username: "nopubsub", password: "pw" });
  try {
    const { jobId } = await enqueueCurriculum(limited, { topic: "Knitting without Pub/Sub" });
    startWorker();
    const state = await waitForJob(limited, jobId, { timeoutMs: 120_000, pollMs: 100 });
    assert.equal(state.status, "finished");
  } finally {
    limited.disconnect();
    await redis.call("ACL", "DELUSER", "nopubsub");
  }
});
