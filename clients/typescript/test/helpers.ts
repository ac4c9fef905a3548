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

/** A throwaway CA, a server certificate for 127.0.0.1 and a client certificate, made by trustme (PEM files). */
export interface TlsFiles { dir: string; ca: string; serverCert: string; serverKey: string; clientCert: string; clientKey: string }

export function makeTlsFiles(): TlsFiles {
  const dir = mkdtempSync(join(tmpdir(), "cw-ts-tls-"));
  const code = `import sys, trustme
ca = trustme.CA()
ca.cert_pem.write_to_path(sys.argv[1] + "/ca.pem")
for name, host in (("server", "127.0.0.1"), ("client", "web-tier")):
    cert = ca.issue_cert(host)
    cert.private_key_pem.write_to_path(f"{sys.argv[1]}/{name}.key")
    cert.cert_chain_pems[0].write_to_path(f"{sys.argv[1]}/{name}.pem")`;
  const run = spawnSync(python(), ["-c", code, dir], { cwd: ROOT, encoding: "utf8" });
  if (run.status !== 0) throw new Error(`making certificates failed: ${run.stderr}`);
  return { dir, ca: join(dir, "ca.pem"), serverCert: join(dir, "server.pem"), serverKey: join(dir, "server.key"),
    clientCert: join(dir, "client.pem"), clientKey: join(dir, "client.key") };
}

export class RedisServer {
  private process: ChildProcess | undefined;
  private dir = mkdtempSync(join(tmpdir(), "cw-ts-redis-"));
  port = 0;

  /** With `tls`, the server listens only for TLS and requires a client certificate from that CA. */
  constructor(private readonly tls?: TlsFiles) {}

  get url(): string {
    return `${this.tls ? "rediss" : "redis"}://127.0.0.1:${this.port}/0`;
  }

  private tlsArgs(): string[] {
    if (!this.tls) return ["--port", String(this.port)];
    return ["--port", "0", "--tls-port", String(this.port), "--tls-cert-file", this.tls.serverCert,
      "--tls-key-file", this.tls.serverKey, "--tls-ca-cert-file", this.tls.ca, "--tls-auth-clients", "yes"];
  }

  async start(): Promise<this> {
    this.port = await freePort();
    this.process = spawn("redis-server", [...this.tlsArgs(), "--bind", "127.0.0.1", "--save", "",
      "--appendonly", "no", "--dir", this.dir], { stdio: "ignore" });
    const tls = this.tls ? { tls: { ca: readFileSync(this.tls.ca), cert: readFileSync(this.tls.clientCert),
      key: readFileSync(this.tls.clientKey) } } : {};
    const client = this.client({ lazyConnect: true, retryStrategy: () => null, ...tls });
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
    if (this.tls) rmSync(this.tls.dir, { recursive: true, force: true });
  }
}

function workerEnv(redisUrl: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(REDIS_|WORKER_|JOB_|CURRICULUM_|OPENAI_|LLM_|LOG_|SENTRY_|RENDER)/.test(k)),
  );
  return { ...env, REDIS_URL: redisUrl, CURRICULUM_GENERATOR: "offline", LOG_FORMAT: "json" };
}

/** `python -m worker run --burst`: runs what is queued, then exits. Resolves with its exit code and logs. */
export function runBurstWorker(redisUrl: string, env: Record<string, string> = {}): Promise<{ code: number | null; logs: string }> {
  return new Promise((res, rej) => {
    const child = spawn(python(), ["-m", "worker", "run", "--burst"], { cwd: ROOT, env: { ...workerEnv(redisUrl), ...env } });
    let logs = "";
    child.stderr.on("data", (chunk: Buffer) => (logs += chunk.toString()));
    child.stdout.on("data", (chunk: Buffer) => (logs += chunk.toString()));
    child.once("error", rej);
    child.once("close", (code) => res({ code, logs }));
  });
}

/** A long-running `python -m worker run`, whose JSON log lines the test can wait for. */
export class WorkerProcess {
  private logs = "";
  private readonly child: ChildProcess;

  constructor(redisUrl: string, env: Record<string, string> = {}) {
    this.child = spawn(python(), ["-m", "worker", "run"], {
      cwd: ROOT, env: { ...workerEnv(redisUrl), WORKER_HEARTBEAT_INTERVAL: "1", ...env },
    });
    this.child.stderr?.on("data", (chunk: Buffer) => (this.logs += chunk.toString()));
    this.child.stdout?.on("data", (chunk: Buffer) => (this.logs += chunk.toString()));
  }

  events(name: string): Record<string, unknown>[] {
    return this.logs.split("\n").flatMap((line) => {
      try {
        const record = JSON.parse(line) as Record<string, unknown>;
        return record["event"] === name ? [record] : [];
      } catch {
        return [];
      }
    });
  }

  /** The first event `name` for `jobId`; rejects (with the log's tail) after `timeoutMs`. */
  async waitFor(name: string, jobId: string, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const hit = this.events(name).find((e) => e["job_id"] === jobId);
      if (hit) return hit;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no ${name} for ${jobId} within ${timeoutMs} ms; log:\n${this.logs.slice(-3000)}`);
  }

  stop(): void {
    this.child.kill("SIGKILL");
  }
}

/** Run a Python snippet with the repo's venv (for cross-language checks); returns its stdout. */
export function runPython(code: string, redisUrl: string): string {
  const result = spawnSync(python(), ["-c", code], { cwd: ROOT, env: workerEnv(redisUrl), encoding: "utf8" });
  if (result.status !== 0) throw new Error(`python failed: ${result.stderr}`);
  return result.stdout;
}
