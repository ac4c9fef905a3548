/**
 * connectRedis: the one place this package builds an ioredis client, with bounded retries.
 *
 * ioredis's defaults suit a long-lived server process, not a request handler: it retries for ever,
 * queues commands while disconnected, and emits every failed attempt as an 'error' event (with no
 * listener, Node prints each one as "[ioredis] Unhandled error event"). Here an unreachable,
 * TLS-refusing or auth-refusing Redis rejects once, with one ConnectionFailedError naming the
 * scheme, host and port (never the password), after at most `retries` reconnect attempts.
 */
import { Redis, type RedisOptions } from "ioredis";
import type { ConnectionOptions } from "node:tls";
import { ConnectionFailedError } from "./errors.js";

export interface ConnectOptions {
  /**
   * Node's TLS options, passed to ioredis as they are: `ca` (PEM) to verify the server, `cert` and
   * `key` for servers that require a client certificate, `servername`, `rejectUnauthorized`.
   * A `rediss://` URL turns TLS on by itself; giving these also does.
   */
  tls?: ConnectionOptions;
  /** Reconnect attempts after the first, before giving up (default 3, like REDIS_MAX_RETRIES). */
  retries?: number;
  /** Each attempt's TCP + TLS handshake limit in ms (default 10 000, like REDIS_CONNECT_TIMEOUT). */
  connectTimeoutMs?: number;
  /** First backoff in ms, doubled per attempt up to 5 000 (default 1 000, like REDIS_RETRY_DELAY). */
  retryDelayMs?: number;
  /** Any other ioredis option (Sentinel, db, username...); the ones above take precedence. */
  redisOptions?: RedisOptions;
}

/** Failures another attempt cannot fix: the certificate or the credentials are wrong. */
const PERMANENT_CODES = new Set(["SELF_SIGNED_CERT_IN_CHAIN", "DEPTH_ZERO_SELF_SIGNED_CERT", "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "CERT_HAS_EXPIRED", "CERT_NOT_YET_VALID", "ERR_TLS_CERT_ALTNAME_INVALID"]);

function isPermanent(error: Error | undefined): boolean {
  if (!error) return false;
  const code = (error as { code?: unknown }).code;
  return (typeof code === "string" && PERMANENT_CODES.has(code)) || /^(WRONGPASS|NOAUTH|NOPERM)\b/.test(error.message);
}

/** scheme://host:port of a Redis URL, for messages: never the user name or password. */
export function describeEndpoint(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.hostname}:${parsed.port || "6379"}`;
  } catch {
    return "an unparsable REDIS_URL";
  }
}

/** The options connectRedis gives ioredis (exported for the tests and for callers who build their own). */
export function redisOptions(url: string, options: ConnectOptions = {}): RedisOptions {
  const retries = options.retries ?? 3;
  const base = options.retryDelayMs ?? 1000;
  const tls = options.tls ?? (url.startsWith("rediss:") ? {} : undefined);
  return {
    ...options.redisOptions,
    lazyConnect: true,
    connectTimeout: options.connectTimeoutMs ?? 10_000,
    // Fail a command at once while disconnected instead of queueing it for an unknown time.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt: number) => (attempt > retries ? null : Math.min(base * 2 ** (attempt - 1), 5000)),
    ...(tls ? { tls } : {}),
  };
}

/**
 * A connected ioredis client for `url` (`redis://` or `rediss://`), or one ConnectionFailedError.
 * Connection errors after this are reported by the failing command (a RedisError from this
 * package's functions), never as an unhandled 'error' event.
 */
export async function connectRedis(url: string, options: ConnectOptions = {}): Promise<Redis> {
  // ioredis 6: replies in the shapes this package parses (its RESP2 "legacy" mapping), whatever
  // protocol is chosen; ioredis 5 ignores the option. A variable, so ioredis 5's types accept it.
  let lastError: Error | undefined;
  const base = redisOptions(url, options);
  const retry = base.retryStrategy as (attempt: number) => number | null;
  const settings = {
    ...base,
    // An untrusted certificate or a wrong password is reported now, not after every retry.
    retryStrategy: (attempt: number) => (isPermanent(lastError) ? null : retry(attempt)),
    replyMapping: "legacy" as const,
  };
  const redis: Redis = new Redis(url, settings);
  // Keeps Node from printing each failed attempt; the reason reaches the caller below.
  redis.on("error", (error: Error) => { lastError = error; });
  const ready = new Promise<void>((resolve, reject) => {
    redis.once("ready", resolve);
    redis.once("end", () => reject(lastError ?? new Error("connection closed")));
  });
  redis.connect().catch(() => undefined); // the outcome arrives as 'ready' or, after the retries, 'end'
  try {
    await ready;
  } catch (error) {
    redis.disconnect();
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConnectionFailedError(`cannot connect to ${describeEndpoint(url)}: ${reason}`, { cause: error });
  }
  return redis;
}
