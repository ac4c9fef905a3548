// The web-tier developer's check, outside this repository: clone it (committed work only), install
// the client into a fresh Node app from the clone's folder and from `npm pack`, each with ioredis 5
// and 6, compile the app with tsc --strict, prove a lesson title is typed `string` (assigning it
// to a number must fail), and run the app against a real redis-server and the Python worker.
// Run by `make test-ts` (npm run test:outside); needs git, redis-server and the repo's .venv.
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const clientDir = resolve(here, "..");
const repo = resolve(clientDir, "..", "..");
const tsc = join(clientDir, "node_modules", ".bin", "tsc");
const python = process.env.CURRICULUM_WORKER_PYTHON ?? join(repo, ".venv", "bin", "python");
const tmp = mkdtempSync(join(tmpdir(), "cw-outside-"));
const quiet = ["--no-audit", "--no-fund", "--loglevel=error"];

function sh(cmd, args, cwd, env = process.env) {
  const done = spawnSync(cmd, args, { cwd, env, encoding: "utf8" });
  if (done.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed in ${cwd}:\n${done.stdout}\n${done.stderr}`);
  return done.stdout;
}

const APP = `import { Redis } from "ioredis";
import { connectRedis, enqueueCurriculum, getJob, type Curriculum, type Lesson } from "curriculum-worker-client";

/** The first lesson's title: typed string all the way down, no casts. */
export function firstLessonTitle(result: Curriculum): string {
  return result.modules[0].lessons[0].title;
}

const redis: Redis = await connectRedis(process.env["REDIS_URL"] ?? "redis://127.0.0.1:6379/0", { retries: 1 });
try {
  if (process.argv[2] === "enqueue") {
    const { jobId } = await enqueueCurriculum(redis, { topic: "Knitting for " + process.argv[3], duration_weeks: 1 });
    console.log(jobId);
  } else {
    const job = await getJob(redis, process.argv[3] ?? "");
    if (job.result === null) throw new Error("no result: " + job.status);
    const lesson: Lesson = job.result.modules[0].lessons[0];
    console.log(JSON.stringify({ title: firstLessonTitle(job.result), source: lesson.source,
      calls: job.result.usage.model_calls, warnings: job.result.warnings.length }));
  }
} finally {
  redis.disconnect();
}
`;

// Compiles only if the title is not `string` (any, unknown...): must fail with TS2322.
const NEGATIVE = `import type { Curriculum } from "curriculum-worker-client";
export function notANumber(result: Curriculum): number {
  const title: number = result.modules[0].lessons[0].title;
  return title;
}
`;

const TSCONFIG = JSON.stringify({
  compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true,
    skipLibCheck: true, outDir: "dist", types: ["node"] },
});

function makeApp(name, spec, ioredis, installLinks) {
  const dir = join(tmp, name);
  mkdirSync(dir);
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: `outside-${name}`, private: true, type: "module" }));
  writeFileSync(join(dir, "tsconfig.json"), TSCONFIG);
  writeFileSync(join(dir, "app.ts"), APP);
  const links = installLinks ? ["--install-links"] : [];
  sh("npm", ["install", ...quiet, ...links, spec, `ioredis@${ioredis}`, "@types/node@20"], dir);
  const installed = JSON.parse(sh("npm", ["ls", "ioredis", "--json"], dir)).dependencies.ioredis.version;
  assert.equal(installed.split(".")[0], ioredis, `${name}: the app's ioredis`);
  sh(tsc, ["-p", "."], dir);
  writeFileSync(join(dir, "negative.ts"), NEGATIVE);
  writeFileSync(join(dir, "tsconfig.negative.json"),
    JSON.stringify({ extends: "./tsconfig.json", compilerOptions: { noEmit: true }, files: ["negative.ts"] }));
  const negative = spawnSync(tsc, ["-p", "tsconfig.negative.json"], { cwd: dir, encoding: "utf8" });
  assert.match(negative.stdout, /negative\.ts\(3,9\): error TS2322: Type 'string' is not assignable to type 'number'/,
    `${name}: a lesson title must be typed string\n${negative.stdout}`);
  return dir;
}

async function freePort() {
  return new Promise((ok) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

async function withRedis(use) {
  const port = await freePort();
  const redis = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
    "--dir", tmp], { stdio: "ignore" });
  try {
    for (let i = 0; i < 100 && spawnSync("redis-cli", ["-p", String(port), "ping"]).status !== 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    return await use(`redis://127.0.0.1:${port}/0`);
  } finally {
    redis.kill("SIGTERM");
  }
}

function runApp(dir, url) {
  const env = { ...process.env, REDIS_URL: url };
  const jobId = sh("node", ["dist/app.js", "enqueue", dir.split("/").at(-1)], dir, env).trim();
  const workerEnv = Object.fromEntries(Object.entries(process.env)
    .filter(([k]) => !/^(REDIS_|WORKER_|JOB_|CURRICULUM_|OPENAI_|LLM_|LOG_|SENTRY_|RENDER)/.test(k)));
  sh(python, ["-m", "worker", "run", "--burst"], repo, { ...workerEnv, REDIS_URL: url, CURRICULUM_GENERATOR: "offline" });
  const read = JSON.parse(sh("node", ["dist/app.js", "title", jobId], dir, env));
  assert.ok(typeof read.title === "string" && read.title.length > 0, JSON.stringify(read));
  assert.equal(read.source, "template");
  return read.title;
}

try {
  const status = execFileSync("git", ["status", "--porcelain", "clients/typescript", "jobs", "worker"], { cwd: repo })
    .toString().trim();
  if (status) console.log("outside-app: note, uncommitted changes are not in the clone:\n" + status);
  const clone = join(tmp, "clone");
  sh("git", ["clone", "--quiet", "--no-hardlinks", repo, clone], tmp);
  const source = join(clone, "clients", "typescript");
  sh("npm", ["ci", ...quiet], source); // runs `prepare`: the build
  const packed = sh("npm", ["pack", "--pack-destination", tmp, "--loglevel=error"], source).trim().split("\n").at(-1);
  const tarball = join(tmp, packed);
  const listing = sh("tar", ["-tzf", tarball], tmp);
  for (const file of ["package/dist/src/index.js", "package/dist/src/index.d.ts", "package/dist/src/generated/result.d.ts",
    "package/dist/src/generated/validate-request.js"]) {
    assert.ok(listing.includes(file), `npm pack must ship ${file}`);
  }
  await withRedis(async (url) => {
    for (const ioredis of ["5", "6"]) {
      for (const [name, spec, links] of [["folder", source, true], ["pack", tarball, false]]) {
        const dir = makeApp(`${name}-ioredis${ioredis}`, spec, ioredis, links);
        const title = runApp(dir, url);
        console.log(`ok - ${name} install, ioredis ${ioredis}: tsc --strict compiles, lesson title ${JSON.stringify(title)}`);
      }
    }
  });
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
