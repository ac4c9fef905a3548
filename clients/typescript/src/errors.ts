/** The package's errors: one base class, one subclass per thing a caller handles differently. */

export class CurriculumClientError extends Error {
  override name = "CurriculumClientError";
}

/** The request (or a job id) breaks the contract; nothing was sent to Redis. */
export class InvalidRequestError extends CurriculumClientError {
  override name = "InvalidRequestError";
  /** Each problem as "field: message", e.g. "objectives[3]: must NOT have more than 300 characters". */
  readonly problems: readonly string[];
  /** The bad fields' paths, sorted, without duplicates: "topic", "objectives[3]", "request" for the whole. */
  readonly fields: readonly string[];

  constructor(problems: readonly string[]) {
    super(`invalid curriculum request: ${problems.join("; ")}`);
    this.problems = problems;
    this.fields = [...new Set(problems.map((p) => p.split(": ", 1)[0] ?? p))].sort();
  }
}

/** No job with this id: never enqueued, or its result has expired. */
export class JobNotFoundError extends CurriculumClientError {
  override name = "JobNotFoundError";
  constructor(readonly jobId: string) {
    super(`no job with id ${JSON.stringify(jobId)} (never enqueued, or its result expired)`);
  }
}

/** ``waitForJob`` gave up; the job goes on and can still be followed with ``getJob``. */
export class JobTimeoutError extends CurriculumClientError {
  override name = "JobTimeoutError";
  constructor(readonly jobId: string, readonly lastStatus: string, timeoutMs: number) {
    super(`job ${jobId} still ${lastStatus} after ${timeoutMs} ms; it goes on`);
  }
}

/** Redis refused or could not be reached; ``cause`` holds the Redis client's error. */
export class RedisError extends CurriculumClientError {
  override name = "RedisError";
  constructor(message: string, options?: { cause: unknown }) {
    super(`redis: ${message}`, options);
  }
}

/** connectRedis gave up: Redis unreachable, TLS or auth refused (the message names scheme, host and port). */
export class ConnectionFailedError extends RedisError {
  override name = "ConnectionFailedError";
}

/** cancelJob found the job running on a worker that does not listen for commands (dead, or cut off from Redis). */
export class CancelFailedError extends CurriculumClientError {
  override name = "CancelFailedError";
}
