export { enqueueCurriculum, getJob, waitForJob } from "./client.js";
export type { Curriculum, EnqueueOptions, JobState, JobStatus, Progress, WaitOptions } from "./client.js";
export { CurriculumClientError, InvalidRequestError, JobNotFoundError, JobTimeoutError, RedisError } from "./errors.js";
export { validateRequest, WHITESPACE } from "./request.js";
export type { CurriculumRequest, CurriculumRequestInput, Level } from "./request.js";
export { canonicalJson, canonicalDigest } from "./canonical.js";
export { idempotencyKey, FUNC, QUEUE, PROMPT_VERSION } from "./wire.js";
