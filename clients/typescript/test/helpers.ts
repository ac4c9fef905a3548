/** Real processes for the tests: a private redis-server on a free port and the repo's Python worker. */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";

/** The repository root (this file runs from clients/typescript/dist/test/). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..");
export const VECTORS = join(ROOT, "tests", "vectors");

export function loadVectors<T>(name: string): T {
  return JSON.parse(readFileSync(join(VECTORS, name), "utf8")) as T;
}

/** The repo's venv Python (built by `make install`), or CURRICULUM_WORKER_PYTHON. */
export function python(): string {
  const path = process.env["CURRICULUM_WORKER_PYTHON"] ?? join(ROOT, ".venv", "bin", "python");
  if (!existsSync(path)) {
    throw new Error(`no Python worker at ${path}: run \`make install\` in ${ROOT} first (or set CURRICULUM_WORKER_PYTHON)`);
  }
  return path;
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const server = createServer();
    server.once("error", rej);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? res(address.port) : rej(new Error("no port"))));
    });
  });
}

export class RedisServer {
  private process: ChildProcess | undefined;
  private dir = mkdtempSync(join(tmpdir(), "cw-ts-redis-"));
  port = 0;

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  async start(): Promise<this> {
    this.port = await freePort();
    this.process = spawn("redis-server", ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "",
      "--appendonly", "no", "--dir", this.dir], { stdio: "ignore" });
    const client = this.client({ lazyConnect: true, retryStrategy: () => null });
    for (let i = 0; i < 100; i++) {
      try {
        await client.connect();
        await client.ping();
        client.disconnect();
        return this;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error(`redis-server did not answer on port ${this.port}`);
  }

  client(options: Record<string, unknown> = {}): Redis {
    const client = new Redis(this.port, "127.0.0.1", { maxRetriesPerRequest: 1, ...options });
    client.on("error", () => undefined); // connection errors reach the caller through the failed command
    return client;
  }

  stop(): void {
    this.process?.kill("SIGTERM");
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function workerEnv(redisUrl: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(REDIS_|WORKER_|JOB_|CURRICULUM_|OPENAI_|LLM_|LOG_|SENTRY_|RENDER)/.test(k)),
  );
  return { ...env, REDIS_URL: redisUrl, CURRICULUM_GENERATOR: "offline", LOG_FORMAT: "json" };
}

/** `python -m worker run --burst`: runs what is queued, then exits. Resolves with its exit code and logs. */
export function runBurstWorker(redisUrl: string): Promise<{ code: number | null; logs: string }> {
  return new Promise((res, rej) => {
    const child = spawn(python(), ["-m", "worker", "run", "--burst"], { cwd: ROOT, env: workerEnv(redisUrl) });
    let logs = "";
    child.stderr.on("data", (chunk: Buffer) => (logs += chunk.toString()));
    child.stdout.on("data", (chunk: Buffer) => (logs += chunk.toString()));
    child.once("error", rej);
    child.once("close", (code) => res({ code, logs }));
  });
}

/** Run a Python snippet with the repo's venv (for cross-language checks); returns its stdout. */
export function runPython(code: string, redisUrl: string): string {
  const result = spawnSync(python(), ["-c", code], { cwd: ROOT, env: workerEnv(redisUrl), encoding: "utf8" });
  if (result.status !== 0) throw new Error(`python failed: ${result.stderr}`);
  return result.stdout;
}
