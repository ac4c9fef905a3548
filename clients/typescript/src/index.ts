export { cancelJob, enqueueCurriculum, getJob, waitForJob } from "./client.js";
export type { CancelOutcome, EnqueueOptions, JobState, JobStatus, Progress, WaitOptions } from "./client.js";
export type {
  Assessment, Curriculum, CurriculumResult, GeneratorInfo, Lesson, Module, ObjectiveCoverage, ScheduleWeek, Usage,
} from "./generated/result.js";
export { connectRedis, describeEndpoint, redisOptions } from "./connect.js";
export type { ConnectOptions } from "./connect.js";
export {
  CancelFailedError, ConnectionFailedError, CurriculumClientError, InvalidRequestError, JobNotFoundError,
  JobTimeoutError, RedisError,
} from "./errors.js";
export { validateRequest, WHITESPACE } from "./request.js";
export type { CurriculumRequest, CurriculumRequestInput, Level } from "./request.js";
export { canonicalJson, canonicalDigest } from "./canonical.js";
export { idempotencyKey, DESCRIPTION, FUNC, QUEUE, PROMPT_VERSION } from "./wire.js";
