/** enqueueCurriculum, getJob, waitForJob, cancelJob: what a web tier needs, over one ioredis client. */
import type { Redis } from "ioredis";
import { createHash } from "node:crypto";
import {
  CancelFailedError, CurriculumClientError, InvalidRequestError, JobNotFoundError, JobTimeoutError, RedisError,
} from "./errors.js";
import type { Curriculum } from "./generated/result.js";
import { validateRequest, type CurriculumRequestInput } from "./request.js";
import {
  CANCEL_LUA, DEFAULT_JOB_TIMEOUT_S, ENQUEUE_ONCE_LUA, JOB_ID, QUEUE, QUEUES_SET, RESULT_TTL_S,
  cancelKeys, decodeResult, idempotencyKey, jobEventsChannel, jobHash, jobKey, newJobId, queueKey, resultsKey,
  workerChannel,
} from "./wire.js";

export type { Curriculum };

export type JobStatus =
  | "queued" | "started" | "finished" | "failed" | "deferred" | "scheduled" | "stopped" | "canceled" | "created";

/** Progress while running: job.meta.progress. */
export interface Progress {
  stage: string;
  done: number;
  total: number;
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
  /**
   * How often to read the job even without a push message (default 5 000 ms). The worker
   * announces progress and the end on the job's channel, so this only bounds the delay when a
   * message is lost (or Pub/Sub is not allowed for this Redis user).
   */
  pollMs?: number;
}

const TERMINAL: ReadonlySet<string> = new Set(["finished", "failed", "stopped", "canceled"]);
/** A job waiting to (re)start has made no progress yet: what meta holds is an earlier run's. */
const WAITING: ReadonlySet<string> = new Set(["queued", "deferred", "scheduled"]);
const ATTEMPTS = 20;
const sha1 = (text: string): string => createHash("sha1").update(text).digest("hex");
const ENQUEUE_SHA = sha1(ENQUEUE_ONCE_LUA);
const CANCEL_SHA = sha1(CANCEL_LUA);

async function redisCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof CurriculumClientError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new RedisError(`${what} failed: ${reason}`, { cause: error });
  }
}

async function evalScript(redis: Redis, script: string, sha: string, keys: string[],
  args: (string | Buffer)[]): Promise<string[]> {
  try {
    return (await redis.evalsha(sha, keys.length, ...keys, ...args)) as string[];
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
    return (await redis.eval(script, keys.length, ...keys, ...args)) as string[];
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
      const [outcome, jobId, status] = await evalScript(redis, ENQUEUE_ONCE_LUA, ENQUEUE_SHA, keys, [current, id, String(RESULT_TTL_S), ...fields]);
      if (outcome !== "retry") return { jobId: jobId as string, status: status as JobStatus };
    }
    throw new RedisError(`could not claim idempotency key after ${ATTEMPTS} attempts`);
  });
}

/** The job's status, progress, result (when finished) and error (when failed or stopped). */
function checkJobId(jobId: string): void {
  if (!JOB_ID.test(jobId)) throw new InvalidRequestError(["job_id: must be letters, digits, '-' or '_'"]);
}

export async function getJob(redis: Redis, jobId: string): Promise<JobState> {
  checkJobId(jobId);
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

/** Waits for a push message on a job's channel; resolves `false` when there is none (polling only). */
class Wakeup {
  private subscriber: Redis | undefined;
  private wake: (() => void) | undefined;
  private pending = false;

  static async open(redis: Redis, jobId: string): Promise<Wakeup> {
    const wakeup = new Wakeup();
    const subscriber = redis.duplicate({ lazyConnect: true });
    subscriber.on("error", () => undefined); // a lost subscriber only means polling until the end
    subscriber.on("message", () => wakeup.ring());
    try {
      await subscriber.connect();
      await subscriber.subscribe(jobEventsChannel(jobId));
      wakeup.subscriber = subscriber;
    } catch {
      subscriber.disconnect();
    }
    return wakeup;
  }

  private ring(): void {
    this.pending = true;
    this.wake?.();
  }

  /** Resolves on the next message (or one that came since the last wait), after `ms`, or rejects on abort. */
  next(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.wake = undefined;
        this.pending = false;
      };
      const timer = setTimeout(() => { done(); resolve(); }, ms);
      const onAbort = (): void => { done(); reject(signal?.reason); };
      this.wake = () => { done(); resolve(); };
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  close(): void {
    this.subscriber?.disconnect();
  }
}

/**
 * Wait until the job finishes, fails, is stopped or canceled; returns its final state (a failed job
 * is a state, not an exception: check ``status``). Throws JobTimeoutError after ``timeoutMs``.
 *
 * The job is read again on each message on its channel (the worker announces every progress
 * update and the end), and every ``pollMs`` in case a message was lost. The subscription comes
 * first, then the first read, so nothing that happens in between is missed.
 */
export async function waitForJob(redis: Redis, jobId: string, options: WaitOptions = {}): Promise<JobState> {
  const { timeoutMs, onProgress, signal, pollMs = 5000 } = options;
  checkJobId(jobId);
  const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
  const wakeup = await Wakeup.open(redis, jobId);
  let lastProgress = "";
  try {
    for (;;) {
      signal?.throwIfAborted();
      const state = await getJob(redis, jobId);
      const progress = state.progress ? JSON.stringify(state.progress) : "";
      if (onProgress && state.progress && progress !== lastProgress) onProgress(state.progress);
      lastProgress = progress;
      if (TERMINAL.has(state.status)) return state;
      const left = deadline - Date.now();
      if (left <= 0) throw new JobTimeoutError(jobId, state.status, timeoutMs as number);
      await wakeup.next(Math.min(pollMs, left), signal);
    }
  } finally {
    wakeup.close();
  }
}

/** What cancelJob did: canceled a waiting job, asked a running one's worker to stop it, or found it ended. */
export interface CancelOutcome {
  jobId: string;
  action: "canceled" | "stopping" | "ended";
  /** The job's status when cancelJob looked: "canceled" after a cancel, "started" while it stops. */
  status: JobStatus;
}

/**
 * Cancel a job: a waiting one (queued, deferred, scheduled) never starts; a running one is
 * stopped by its worker within seconds (its model calls cut off) and ends "stopped". Neither is
 * retried or requeued. A job that already ended is left alone (action "ended").
 * Throws JobNotFoundError, CancelFailedError (the running job's worker does not listen) or RedisError.
 */
export async function cancelJob(redis: Redis, jobId: string): Promise<CancelOutcome> {
  checkJobId(jobId);
  const origin = await redisCall("cancelJob", () => redis.hget(jobKey(jobId), "origin"));
  if (origin === null) throw new JobNotFoundError(jobId);
  const now = String(Math.floor(Date.now() / 1000));
  const reply = await redisCall("cancelJob", () =>
    evalScript(redis, CANCEL_LUA, CANCEL_SHA, cancelKeys(jobId, origin), [jobId, now]));
  const [status, worker] = reply;
  if (status === undefined) throw new JobNotFoundError(jobId);
  if (status === "canceled" && worker === undefined) {
    await redisCall("cancelJob", () => redis.publish(jobEventsChannel(jobId),
      JSON.stringify({ job_id: jobId, status: "canceled", progress: null })));
    return { jobId, action: "canceled", status: "canceled" };
  }
  if (TERMINAL.has(status)) return { jobId, action: "ended", status: status as JobStatus };
  if (status !== "started" || !worker) {
    throw new CancelFailedError(`job ${jobId} is ${status} on no worker; try again`);
  }
  const stop = JSON.stringify({ command: "stop-job", job_id: jobId });
  const receivers = await redisCall("cancelJob", () => redis.publish(workerChannel(worker), stop));
  if (!receivers) {
    throw new CancelFailedError(`job ${jobId} is started but its worker ${worker} is not listening; `
      + "it cannot be stopped (a dead worker's job is recovered by the stall sweep)");
  }
  return { jobId, action: "stopping", status: "started" };
}
