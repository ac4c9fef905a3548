/** enqueueCurriculum, getJob, waitForJob: the three things a web tier needs, over one ioredis client. */
import type { Redis } from "ioredis";
import { createHash } from "node:crypto";
import { CurriculumClientError, InvalidRequestError, JobNotFoundError, JobTimeoutError, RedisError } from "./errors.js";
import { validateRequest, type CurriculumRequestInput } from "./request.js";
import {
  DEFAULT_JOB_TIMEOUT_S, ENQUEUE_ONCE_LUA, JOB_ID, QUEUE, QUEUES_SET, RESULT_TTL_S,
  decodeResult, idempotencyKey, jobHash, jobKey, newJobId, queueKey, resultsKey,
} from "./wire.js";

export type JobStatus =
  | "queued" | "started" | "finished" | "failed" | "deferred" | "scheduled" | "stopped" | "canceled" | "created";

/** Progress while running: job.meta.progress. */
export interface Progress {
  stage: string;
  done: number;
  total: number;
}

/** The contract's curriculum result (docs/interface.md); fields beyond these may be added. */
export interface Curriculum {
  topic: string;
  level: string;
  duration_weeks: number;
  hours_per_week: number;
  modules: Array<Record<string, unknown>>;
  schedule: Array<{ week: number; lesson_ids: string[]; minutes: number }>;
  objectives_coverage: Array<Record<string, unknown>>;
  total_minutes: number;
  generator: { name: string; model: string };
  generated_at: string;
  [field: string]: unknown;
}

/** What `curriculum-worker status --json` prints; absent values are null. */
export interface JobState {
  jobId: string;
  status: JobStatus;
  progress: Progress | null;
  result: Curriculum | null;
  error: string | null;
}

export interface EnqueueOptions {
  /** Return the live job for an equal request instead of a new one (default true). */
  dedupe?: boolean;
  /** Written to the job for plain rq workers; this service's worker applies its JOB_TIMEOUT. */
  jobTimeoutS?: number;
}

export interface WaitOptions {
  /** Give up (JobTimeoutError) after this long; the job goes on. Default: wait for ever. */
  timeoutMs?: number;
  /** Called with each new progress value. */
  onProgress?: (progress: Progress) => void;
  /** Abort the wait (rejects with the signal's reason); the job goes on. */
  signal?: AbortSignal;
  /** Time between polls (default 500 ms). */
  pollMs?: number;
}

const TERMINAL: ReadonlySet<string> = new Set(["finished", "failed", "stopped", "canceled"]);
/** A job waiting to (re)start has made no progress yet: what meta holds is an earlier run's. */
const WAITING: ReadonlySet<string> = new Set(["queued", "deferred", "scheduled"]);
const ATTEMPTS = 20;
const SCRIPT_SHA = createHash("sha1").update(ENQUEUE_ONCE_LUA).digest("hex");

async function redisCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof CurriculumClientError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new RedisError(`${what} failed: ${reason}`, { cause: error });
  }
}

async function evalEnqueueOnce(redis: Redis, keys: string[], args: (string | Buffer)[]): Promise<string[]> {
  try {
    return (await redis.evalsha(SCRIPT_SHA, keys.length, ...keys, ...args)) as string[];
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
    return (await redis.eval(ENQUEUE_ONCE_LUA, keys.length, ...keys, ...args)) as string[];
  }
}

/**
 * Validate ``request`` and put it on the curriculum queue; returns the job id and its status.
 * With ``dedupe`` (the default) an equal request whose job is queued, running, or finished with its
 * result stored returns that job: the same id Python's ``enqueue_curriculum`` would return.
 * Throws InvalidRequestError (before touching Redis) or RedisError.
 */
export async function enqueueCurriculum(
  redis: Redis, request: CurriculumRequestInput, options: EnqueueOptions = {},
): Promise<{ jobId: string; status: JobStatus }> {
  const body = validateRequest(request);
  const fields = jobHash(body, options.jobTimeoutS ?? DEFAULT_JOB_TIMEOUT_S);
  const id = newJobId();
  if (options.dedupe === false) {
    const replies = await redisCall("enqueue", () =>
      redis.multi().hset(jobKey(id), ...fields).rpush(queueKey(QUEUE), id).sadd(QUEUES_SET, queueKey(QUEUE)).exec());
    const failed = (replies ?? []).find(([error]) => error);
    if (!replies || failed) throw new RedisError(`enqueue failed: ${failed?.[0]?.message ?? "transaction aborted"}`);
    return { jobId: id, status: "queued" };
  }
  const key = idempotencyKey(body);
  return redisCall("enqueue", async () => {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const current = (await redis.get(key)) ?? "";
      const seen = JOB_ID.test(current) ? current : id;
      const keys = [key, jobKey(seen), resultsKey(seen), jobKey(id), queueKey(QUEUE), QUEUES_SET];
      const [outcome, jobId, status] = await evalEnqueueOnce(redis, keys, [current, id, String(RESULT_TTL_S), ...fields]);
      if (outcome !== "retry") return { jobId: jobId as string, status: status as JobStatus };
    }
    throw new RedisError(`could not claim idempotency key after ${ATTEMPTS} attempts`);
  });
}

/** The job's status, progress, result (when finished) and error (when failed or stopped). */
export async function getJob(redis: Redis, jobId: string): Promise<JobState> {
  if (!JOB_ID.test(jobId)) throw new InvalidRequestError(["job_id: must be letters, digits, '-' or '_'"]);
  const replies = await redisCall("getJob", () =>
    redis.pipeline().hmget(jobKey(jobId), "status", "meta").xrevrange(resultsKey(jobId), "+", "-", "COUNT", 1).exec());
  const [[hashError, hash], [streamError, stream]] = replies as [[Error | null, (string | null)[]], [Error | null, [string, string[]][]]];
  if (hashError || streamError) throw new RedisError(`getJob failed: ${(hashError ?? streamError)?.message}`);
  const [status, meta] = hash;
  if (!status) throw new JobNotFoundError(jobId);
  const latest = stream[0] ? decodeResult(stream[0][1]) : null;
  const progress = meta && !WAITING.has(status) ? ((JSON.parse(meta) as { progress?: Progress }).progress ?? null) : null;
  return {
    jobId,
    status: status as JobStatus,
    progress,
    result: status === "finished" && latest?.type === 1 ? (latest.returnValue as Curriculum) : null,
    error: status === "failed" || status === "stopped" ? lastLine(latest?.excString ?? null) : null,
  };
}

function lastLine(text: string | null): string | null {
  const lines = (text ?? "").split(/\r?\n/).filter((line) => line.trim());
  return lines.length ? (lines[lines.length - 1] as string) : null;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { signal?.removeEventListener("abort", onAbort); resolve(); }, ms);
    const onAbort = (): void => { clearTimeout(timer); reject(signal?.reason); };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Poll until the job finishes, fails, is stopped or canceled; returns its final state (a failed job
 * is a state, not an exception: check ``status``). Throws JobTimeoutError after ``timeoutMs``.
 */
export async function waitForJob(redis: Redis, jobId: string, options: WaitOptions = {}): Promise<JobState> {
  const { timeoutMs, onProgress, signal, pollMs = 500 } = options;
  const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
  let lastProgress = "";
  for (;;) {
    signal?.throwIfAborted();
    const state = await getJob(redis, jobId);
    const progress = state.progress ? JSON.stringify(state.progress) : "";
    if (onProgress && state.progress && progress !== lastProgress) onProgress(state.progress);
    lastProgress = progress;
    if (TERMINAL.has(state.status)) return state;
    const left = deadline - Date.now();
    if (left <= 0) throw new JobTimeoutError(jobId, state.status, timeoutMs as number);
    await sleep(Math.min(pollMs, left), signal);
  }
}
