/**
 * The curriculum request: validated with the schema the worker publishes (precompiled at build time
 * from schema/curriculum-request.schema.json), then normalized the way the worker normalizes it.
 */
import validate, { type AjvError } from "./generated/validate-request.js";
import { InvalidRequestError } from "./errors.js";

export type Level = "beginner" | "intermediate" | "advanced";

/** What a caller may send; only `topic` is required. */
export interface CurriculumRequestInput {
  topic: string;
  level?: Level;
  duration_weeks?: number;
  hours_per_week?: number;
  objectives?: string[];
  language?: string;
}

/** A request as the job receives it: every field present, whitespace stripped. */
export interface CurriculumRequest {
  topic: string;
  level: Level;
  duration_weeks: number;
  hours_per_week: number;
  objectives: string[];
  language: string;
}

export const DEFAULTS = { level: "beginner", duration_weeks: 4, hours_per_week: 5, language: "en" } as const;

/**
 * The characters stripped from the ends of the topic and of each objective: what Python's
 * str.isspace() knows (jobs/models.py WHITESPACE). Not String.prototype.trim(), which keeps
 * U+001C..U+001F and U+0085 and removes U+FEFF.
 */
export const WHITESPACE =
  "\t\n\v\f\r\u001c\u001d\u001e\u001f \u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005" +
  "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000";

export function strip(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && WHITESPACE.includes(text.charAt(start))) start++;
  while (end > start && WHITESPACE.includes(text.charAt(end - 1))) end--;
  return text.slice(start, end);
}

const MESSAGES: Record<string, string> = {
  "topic:pattern": "must have at least 3 characters besides leading and trailing whitespace",
  "language:pattern": "must be a language tag such as 'en' or 'pt-BR'",
  not: "must be valid Unicode (no unpaired surrogates)",
};

/** "/objectives/3" -> "objectives[3]", the worker's spelling of a field path. */
function fieldPath(error: AjvError): string {
  const parts = error.instancePath.split("/").slice(1).map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
  const extra = error.params["missingProperty"] ?? error.params["additionalProperty"];
  if (typeof extra === "string") parts.push(extra);
  let path = "";
  for (const part of parts) path += /^\d+$/.test(part) ? `[${part}]` : path ? `.${part}` : part;
  return path || "request";
}

function problem(error: AjvError): string {
  const path = fieldPath(error);
  if (error.keyword === "required") return `${path}: is required`;
  if (error.keyword === "additionalProperties") return `${path}: unknown field`;
  if (path === "request" && error.keyword === "type") return "request: must be a JSON object";
  const message = MESSAGES[`${path}:${error.keyword}`] ?? MESSAGES[error.keyword] ?? error.message ?? "is invalid";
  return `${path}: ${message}`;
}

/** The request as the job will see it, or InvalidRequestError naming every bad field (never its value). */
export function validateRequest(request: unknown): CurriculumRequest {
  if (!validate(request)) {
    const problems = (validate.errors ?? []).map(problem);
    throw new InvalidRequestError([...new Set(problems)]);
  }
  const given = request as CurriculumRequestInput;
  return {
    topic: strip(given.topic),
    level: given.level ?? DEFAULTS.level,
    duration_weeks: given.duration_weeks ?? DEFAULTS.duration_weeks,
    hours_per_week: given.hours_per_week ?? DEFAULTS.hours_per_week,
    objectives: (given.objectives ?? []).map(strip),
    language: given.language ?? DEFAULTS.language,
  };
}
