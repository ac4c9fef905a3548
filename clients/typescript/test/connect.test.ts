/**
 * connectRedis: an unreachable or TLS-refusing Redis rejects once with a typed error and prints
 * nothing; a server that requires client certificates is used with ioredis's own TLS options, end
 * to end with the Python worker.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { connect, createServer, type AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { ConnectionFailedError, connectRedis, enqueueCurriculum, getJob, waitForJob } from "../src/index.js";
import { RedisServer, makeTlsFiles, runBurstWorker, type TlsFiles } from "./helpers.js";

let files: TlsFiles;
let server: RedisServer;

before(async () => {
  files = makeTlsFiles();
  server = await new RedisServer(files).start();
});
after(() => server.stop());

/** Everything written to stderr (where ioredis prints "Unhandled error event") while `run` runs. */
async function stderrOf(run: () => Promise<void>): Promise<string> {
  const original = process.stderr.write.bind(process.stderr);
  let written = "";
  process.stderr.write = ((chunk: string | Uint8Array) => { written += chunk.toString(); return true; }) as typeof process.stderr.write;
  try {
    await run();
    await new Promise((r) => setTimeout(r, 300)); // late reconnect attempts would print now
  } finally {
    process.stderr.write = original;
  }
  return written;
}

test("an unreachable Redis rejects once with ConnectionFailedError naming the endpoint, not the password", async () => {
  const printed = await stderrOf(async () => {
    await assert.rejects(
      connectRedis("redis://:hunter2-secret@127.0.0.1:1/0", { retries: 2, retryDelayMs: 10 }),
      (error: unknown) => {
        assert.ok(error instanceof ConnectionFailedError);
        assert.match(error.message, /redis:\/\/127\.0\.0\.1:1\b/);
        assert.match(error.message, /ECONNREFUSED/);
        assert.ok(!error.message.includes("hunter2"));
        return true;
      });
  });
  assert.equal(printed, "");
});

test("a TLS server without the CA is refused with one ConnectionFailedError, printing nothing", async () => {
  const printed = await stderrOf(async () => {
    await assert.rejects(connectRedis(server.url, { retries: 1, retryDelayMs: 10 }), (error: unknown) => {
      assert.ok(error instanceof ConnectionFailedError);
      assert.match(error.message, /^redis: cannot connect to rediss:\/\/127\.0\.0\.1:\d+: .*certificate/);
      return true;
    });
  });
  assert.equal(printed, "");
});

/** A TCP relay to the TLS server that counts the connections made through it. */
async function countingRelay(): Promise<{ url: string; count: () => number; close: () => void }> {
  let connections = 0;
  const relay = createServer((socket) => {
    connections++;
    const upstream = connect(server.port, "127.0.0.1");
    socket.pipe(upstream).pipe(socket);
    socket.on("error", () => upstream.destroy());
    upstream.on("error", () => socket.destroy());
  });
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
  const { port } = relay.address() as AddressInfo;
  return { url: `rediss://127.0.0.1:${port}/0`, count: () => connections, close: () => relay.close() };
}

test("an untrusted certificate is not retried: one connection, then one error", async () => {
  const relay = await countingRelay();
  try {
    await assert.rejects(connectRedis(relay.url, { retries: 3, retryDelayMs: 10 }), /certificate/);
    assert.equal(relay.count(), 1);
  } finally {
    relay.close();
  }
});

test("a server requiring client certificates refuses a client without one", async () => {
  await assert.rejects(connectRedis(server.url, { retries: 0, tls: { ca: readFileSync(files.ca) } }),
    ConnectionFailedError);
});

test("with ioredis's TLS options (CA, client cert and key) the client connects, enqueues and subscribes over mTLS", async () => {
  const tls = { ca: readFileSync(files.ca), cert: readFileSync(files.clientCert), key: readFileSync(files.clientKey) };
  const redis = await connectRedis(server.url, { tls });
  try {
    assert.equal(await redis.ping(), "PONG");
    const { jobId } = await enqueueCurriculum(redis, { topic: "Knitting over TLS" });
    assert.equal((await redis.hget(`rq:job:${jobId}`, "status")), "queued");
    const state = await waitForJob(redis, jobId, { timeoutMs: 200, pollMs: 50 }).catch((error: unknown) => error);
    // No worker here: the wait times out with the job still queued, over a push subscription on TLS.
    assert.ok(state instanceof Error && state.name === "JobTimeoutError");
  } finally {
    redis.disconnect();
  }
});

test("mTLS end to end: enqueued from Node, run by the Python worker with REDIS_TLS_CERT_FILE/KEY_FILE, read back typed", async () => {
  const tls = { ca: readFileSync(files.ca), cert: readFileSync(files.clientCert), key: readFileSync(files.clientKey) };
  const redis = await connectRedis(server.url, { tls });
  try {
    const { jobId } = await enqueueCurriculum(redis, { topic: "Knitting over mutual TLS", duration_weeks: 1 });
    const run = await runBurstWorker(server.url, {
      REDIS_TLS_CA_FILE: files.ca, REDIS_TLS_CERT_FILE: files.clientCert, REDIS_TLS_KEY_FILE: files.clientKey,
    });
    assert.equal(run.code, 0, run.logs);
    const job = await getJob(redis, jobId);
    assert.equal(job.status, "finished");
    const title: string | undefined = job.result?.modules[0]?.lessons[0]?.title;
    assert.ok(title && title.length > 0);
  } finally {
    redis.disconnect();
  }
});
