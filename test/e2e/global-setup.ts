/**
 * Starts a receiver and the real Worker under `wrangler dev` (local D1, Queues and
 * Durable Objects in a fresh state directory), as a detached process group stopped by
 * its own pid.
 *
 * `wrangler dev` rebuilds and reloads the Worker whenever a source file changes, and a
 * reload drops the local queues' in-memory messages. So the Worker runs from a snapshot of
 * `wrangler.toml`, `src/` and `migrations/` taken at setup (inside the project, so
 * `node_modules` and `tsconfig.json` still resolve): editing the sources while the suite
 * runs cannot lose deliveries mid-test.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { startReceiver } from "../support/receiver";

declare module "vitest" {
  export interface ProvidedContext {
    receiverUrl: string;
    workerUrl: string;
    adminToken: string;
  }
}

export const E2E_ADMIN_TOKEN = "e2e-admin-token";
/** Small enough that the auto-disable test finishes quickly. */
export const E2E_AUTO_DISABLE_AFTER_S = 4;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

async function waitForHealth(url: string, child: ChildProcess, deadlineMs: number): Promise<void> {
  const start = Date.now();
  while (Date.now() - start < deadlineMs) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited with ${child.exitCode}`);
    try {
      const res = await fetch(`${url}/health`);
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error("wrangler dev did not become healthy in time");
}

/** Copies what `wrangler dev` builds from into a fresh directory under `.wrangler/`. */
function snapshotSources(): string {
  const root = path.resolve(import.meta.dirname, "../..");
  const parent = path.join(root, ".wrangler", "e2e");
  mkdirSync(parent, { recursive: true });
  const dir = mkdtempSync(path.join(parent, "src-"));
  for (const entry of ["wrangler.toml", "src", "migrations"]) cpSync(path.join(root, entry), path.join(dir, entry), { recursive: true });
  return dir;
}

export default async function setup(project: TestProject) {
  const receiver = await startReceiver();
  const state = mkdtempSync(path.join(tmpdir(), "switchyard-e2e-"));
  const snapshot = snapshotSources();
  const config = path.join(snapshot, "wrangler.toml");
  const migrate = spawnSync("npx", ["wrangler", "d1", "migrations", "apply", "DB", "--local", "--config", config, "--persist-to", state], { encoding: "utf8" });
  if (migrate.status !== 0) {
    rmSync(snapshot, { recursive: true, force: true });
    throw new Error(`migrations failed: ${migrate.stderr}`);
  }
  const port = await freePort();
  const vars = {
    ADMIN_TOKEN: E2E_ADMIN_TOKEN,
    SECRETS_KEY: "c3dpdGNoeWFyZC1kZXYta2V5LW5vdC1mb3ItcHJvZCE=",
    ALLOW_PRIVATE_URLS: "true",
    AUTO_DISABLE_AFTER_S: String(E2E_AUTO_DISABLE_AFTER_S),
  };
  const child = spawn(
    "npx",
    ["wrangler", "dev", "--config", config, "--ip", "127.0.0.1", "--port", String(port), "--persist-to", state, "--env-file", "/dev/null", ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`])],
    { detached: true, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1" } },
  );
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  const workerUrl = `http://127.0.0.1:${port}`;
  try {
    await waitForHealth(workerUrl, child, 90_000);
  } catch (err) {
    if (child.pid) process.kill(-child.pid, "SIGTERM");
    rmSync(snapshot, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n${output.slice(-4000)}`);
  }
  project.provide("receiverUrl", receiver.url);
  project.provide("workerUrl", workerUrl);
  project.provide("adminToken", E2E_ADMIN_TOKEN);
  return async () => {
    if (child.pid) {
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        // already gone
      }
    }
    await receiver.close();
    rmSync(state, { recursive: true, force: true });
    rmSync(snapshot, { recursive: true, force: true });
  };
}
