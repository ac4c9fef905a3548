/**
 * The job format in Redis, as rq 3.x with its JSON serializer reads and writes it. Every key and
 * field here is specified in docs/wire-format.md; change them together.
 */
import { randomUUID } from "node:crypto";
import { deflateSync, inflateSync } from "node:zlib";
import { canonicalDigest } from "./canonical.js";
import type { CurriculumRequest } from "./request.js";

export const QUEUE = "curriculum_generation";
export const FUNC = "jobs.curriculum.generate_curriculum";
/** jobs.generators.PROMPT_VERSION; tests/vectors/canonical.json pins it. */
export const PROMPT_VERSION = "curriculum-v1";
export const IDEMPOTENCY_PREFIX = "curriculum:idempotency";
export const RESULT_TTL_S = 24 * 3600;
export const FAILURE_TTL_S = 7 * 24 * 3600;
/** The contract's JOB_TIMEOUT default; the worker applies its own JOB_TIMEOUT to every job anyway. */
export const DEFAULT_JOB_TIMEOUT_S = 900;

/** RQ's label for the job, shown by rq-dashboard: never the arguments (they hold user data). */
export const DESCRIPTION = `${FUNC}(\u2026)`;

export const jobKey = (id: string): string => `rq:job:${id}`;
/** RQ's canceled-job registry of a queue (a sorted set scored with the cancel time). */
export const canceledKey = (queue: string): string => `rq:canceled:${queue}`;
/** RQ's command channel of one worker (rq.command.PUBSUB_CHANNEL_TEMPLATE). */
export const workerChannel = (worker: string): string => `rq:pubsub:${worker}`;
/** The worker's push channel for one job (jobs/notify.py): progress and end, as hints. */
export const jobEventsChannel = (id: string): string => `curriculum-worker:job-events:${id}`;
export const resultsKey = (id: string): string => `rq:results:${id}`;
export const queueKey = (name: string): string => `rq:queue:${name}`;
export const QUEUES_SET = "rq:queues";
/** rq's own rule for a job id. */
export const JOB_ID = /^[A-Za-z0-9_-]+$/;

export const newJobId = (): string => randomUUID().replace(/-/g, "");

export function idempotencyDocument(request: CurriculumRequest): Record<string, unknown> {
  return { prompt_version: PROMPT_VERSION, request };
}

export function idempotencyKey(request: CurriculumRequest): string {
  return `${IDEMPOTENCY_PREFIX}:${canonicalDigest(idempotencyDocument(request))}`;
}

/** rq's timestamp format: UTC, microseconds, "Z". */
function rqTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

/** The minimal job hash: field/value pairs ready for HSET. */
export function jobHash(request: CurriculumRequest, timeoutS: number, now = new Date()): (string | Buffer)[] {
  // rq stores [func_name, instance, args, kwargs] serialized as JSON and zlib-compressed.
  const data = deflateSync(Buffer.from(JSON.stringify([FUNC, null, [request], {}]), "utf8"));
  const at = rqTime(now);
  return [
    "status", "queued",
    "origin", QUEUE,
    "data", data,
    "created_at", at,
    "enqueued_at", at,
    "timeout", String(timeoutS),
    "result_ttl", String(RESULT_TTL_S),
    "failure_ttl", String(FAILURE_TTL_S),
    "description", DESCRIPTION,
  ];
}

/** The latest entry of rq:results:<id>, decoded. */
export interface LatestResult {
  type: number;
  returnValue: unknown;
  excString: string | null;
}

export function decodeResult(fields: string[]): LatestResult {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i] as string, fields[i + 1] as string);
  const rv = map.get("return_value");
  const exc = map.get("exc_string");
  return {
    type: Number(map.get("type")),
    returnValue: rv === undefined ? null : JSON.parse(Buffer.from(rv, "base64").toString("utf8")),
    excString: exc ? inflateSync(Buffer.from(exc, "base64")).toString("utf8") : null,
  };
}

/**
 * Atomic "return the live job for this key, or create one": the same rule as worker/idempotency.py
 * (a job that failed, was stopped or canceled, or finished without a stored result is replaced).
 * KEYS: idempotency key, current job hash, its results stream, new job hash, queue list, queues set.
 * ARGV: the current job id seen before ("" for none), new job id, key TTL, new job hash pairs.
 */
export const ENQUEUE_ONCE_LUA = `
local current = redis.call('GET', KEYS[1])
if (current or '') ~= ARGV[1] then return {'retry'} end
if current then
  local status = redis.call('HGET', KEYS[2], 'status')
  if status and status ~= 'failed' and status ~= 'stopped' and status ~= 'canceled' then
    if status ~= 'finished' then return {'existing', current, status} end
    local latest = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)[1]
    if latest then
      local success, value = false, false
      for i = 1, #latest[2], 2 do
        if latest[2][i] == 'type' and latest[2][i + 1] == '1' then success = true end
        if latest[2][i] == 'return_value' then value = true end
      end
      if success and value then return {'existing', current, status} end
    end
  end
end
redis.call('HSET', KEYS[4], unpack(ARGV, 4))
redis.call('RPUSH', KEYS[5], ARGV[2])
redis.call('SADD', KEYS[6], KEYS[5])
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return {'created', ARGV[2], 'queued'}
`;

/**
 * Cancel a waiting job the way rq's Job.cancel does, atomically with reading its status (a worker
 * starting it in between cannot be missed): status "canceled", off its queue and off the deferred
 * or scheduled registry, into the canceled registry. Any other status is returned untouched, with
 * the worker name for a started job (to send it RQ's stop-job command). The job's origin queue
 * (never changed after enqueue) names the keys.
 * KEYS: job hash, rq:queue:<origin>, rq:deferred:<origin>, rq:scheduled:<origin>, rq:canceled:<origin>
 * ARGV: job id, now (UNIX seconds)
 * Returns {"canceled"} or {status, worker name or ""}; {} when there is no such job.
 */
export const CANCEL_LUA = `
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {} end
if status ~= 'queued' and status ~= 'deferred' and status ~= 'scheduled' then
  return {status, redis.call('HGET', KEYS[1], 'worker_name') or ''}
end
redis.call('HSET', KEYS[1], 'status', 'canceled')
redis.call('LREM', KEYS[2], 1, ARGV[1])
if status == 'deferred' then redis.call('ZREM', KEYS[3], ARGV[1]) end
if status == 'scheduled' then redis.call('ZREM', KEYS[4], ARGV[1]) end
redis.call('ZADD', KEYS[5], ARGV[2], ARGV[1])
return {'canceled'}
`;

export function cancelKeys(id: string, origin: string): string[] {
  return [jobKey(id), queueKey(origin), `rq:deferred:${origin}`, `rq:scheduled:${origin}`, canceledKey(origin)];
}
