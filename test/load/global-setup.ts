/**
 * Global setup of the load test (vitest.load.config.ts): a receiver and the real Worker
 * under `wrangler dev` (local D1, Queues and Durable Objects in a fresh state directory),
 * started as a detached process group and stopped by its own pid — as
 * test/e2e/global-setup.ts does, but with the production AUTO_DISABLE_AFTER_S (5 days):
 * the flapping receivers must be retried, not disabled after 4 s of 503s.
 *
 * Provides the same names as the e2e setup (`workerUrl`, `receiverUrl`, `adminToken`), so
 * the load test reuses test/e2e/helpers.ts.
 */
import { spawnSync } from "node:child_process";
import { cpSync, createWriteStream, existsSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { startReceiver } from "../support/receiver";
import { freePort, spawnWranglerDev, stopProcessGroup, waitForHealth } from "../support/worker";

declare module "vitest" {
  export interface ProvidedContext {
    /** The directory `wrangler dev` serves (a copy of the sources unless LOAD_SNAPSHOT=0). */
    loadWorkerDir: string;
  }
}

export const LOAD_ADMIN_TOKEN = "load-admin-token";

export default async function setup(project: TestProject) {
  const receiver = await startReceiver();
  // Local D1 is one SQLite file written one statement at a time; on this machine's disk its
  // fsyncs, not the Worker, set the pace. tmpfs (/dev/shm) by default; LOAD_STATE_DIR overrides.
  const base = process.env.LOAD_STATE_DIR ?? (existsSync("/dev/shm") ? "/dev/shm" : tmpdir());
  const state = mkdtempSync(path.join(base, "switchyard-load-"));
  // `wrangler dev` rebuilds and restarts its runtime when a source file changes, and the
  // local queues live in that runtime's memory: an edit elsewhere in the repo during a
  // long run drops every queued message (seen: ~36 000 at once). The run serves a copy of
  // the Worker's sources instead (LOAD_SNAPSHOT=0 serves the working tree).
  const root = path.resolve(import.meta.dirname, "../..");
  let cwd = root;
  if (process.env.LOAD_SNAPSHOT !== "0") {
    cwd = path.join(state, "worker");
    for (const f of ["src", "migrations", "wrangler.toml", "package.json", "tsconfig.json", "worker-configuration.d.ts"]) {
      cpSync(path.join(root, f), path.join(cwd, f), { recursive: true });
    }
    symlinkSync(path.join(root, "node_modules"), path.join(cwd, "node_modules"), "dir");
  }
  const persist = path.join(state, "data");
  const migrate = spawnSync("npx", ["wrangler", "d1", "migrations", "apply", "DB", "--local", "--persist-to", persist], { encoding: "utf8", cwd });
  if (migrate.status !== 0) throw new Error(`migrations failed: ${migrate.stderr}`);
  const port = await freePort();
  const vars = {
    ADMIN_TOKEN: LOAD_ADMIN_TOKEN,
    SECRETS_KEY: "c3dpdGNoeWFyZC1kZXYta2V5LW5vdC1mb3ItcHJvZCE=",
    ALLOW_PRIVATE_URLS: "true",
  };
  const child = spawnWranglerDev({ port, persist, vars, cwd });
  // wrangler logs every request: the whole output goes to a file, the tail stays for errors.
  const logPath = process.env.LOAD_WRANGLER_LOG ?? path.join(tmpdir(), `switchyard-load-wrangler-${process.pid}.log`);
  const logFile = createWriteStream(logPath);
  console.log(`[load] wrangler dev output: ${logPath}; serving ${cwd}`);
  let output = "";
  const keep = (d: Buffer) => {
    logFile.write(d);
    output = (output + d.toString()).slice(-20_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const workerUrl = `http://127.0.0.1:${port}`;
  try {
    await waitForHealth(workerUrl, child, 90_000);
  } catch (err) {
    stopProcessGroup(child);
    throw new Error(`${(err as Error).message}\n${output.slice(-4000)}`);
  }
  project.provide("receiverUrl", receiver.url);
  project.provide("workerUrl", workerUrl);
  project.provide("adminToken", LOAD_ADMIN_TOKEN);
  project.provide("loadWorkerDir", cwd);
  return async () => {
    stopProcessGroup(child);
    await receiver.close();
    logFile.end();
    rmSync(state, { recursive: true, force: true });
  };
}
