// `npm install <folder>` links the folder and runs its `prepare` without installing the folder's own
// dependencies, so the build tools (ajv, typescript) are missing there; a git URL or `npm pack`
// has them. Install them from package-lock.json when they are missing, then build.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";

function run(args) {
  const done = spawnSync(npm, args, { cwd: root, stdio: "inherit" });
  if (done.status !== 0) process.exit(done.status ?? 1);
}

const tools = ["ajv", "typescript", "ioredis", "@types/node"];
if (tools.some((name) => !existsSync(join(root, "node_modules", name, "package.json")))) {
  // --ignore-scripts: this very script must not run again inside; --include=dev: the caller may omit dev.
  run(["ci", "--include=dev", "--ignore-scripts", "--no-audit", "--no-fund"]);
}
run(["run", "build"]);
