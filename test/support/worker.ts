/**
 * Starts the real Worker under `wrangler dev` in a fresh local state directory (D1 migrated
 * first), as a detached process group stopped by its own pid. Used by the e2e, browser and
 * load suites.
 *
 * `wrangler dev` rebuilds and reloads the Worker whenever a source file changes, and a
 * reload drops the local queues' in-memory messages. So the Worker runs from a snapshot of
 * `wrangler.toml`, `src/` and `migrations/` taken at start (inside the project, so
 * `node_modules` and `tsconfig.json` still resolve): editing the sources while a suite
 * runs cannot lose deliveries mid-test.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

/** Resolves once `${url}/health` answers OK; fails if `child` exits or `deadlineMs` passes. */
export async function waitForHealth(url: string, child: ChildProcess, deadlineMs: number): Promise<void> {
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

/**
 * Spawns `wrangler dev` on 127.0.0.1:`port` as a detached process group (stop it with
 * `stopProcessGroup`), persisting local state to `persist` and passing each of `vars` as
 * `--var NAME:value`; `config` and `cwd` choose which Worker it serves.
 */
export function spawnWranglerDev(opts: { port: number; persist: string; vars: Record<string, string>; config?: string; cwd?: string }): ChildProcess {
  const { port, persist, vars, config, cwd } = opts;
  return spawn(
    "npx",
    [
      "wrangler",
      "dev",
      ...(config ? ["--config", config] : []),
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--persist-to",
      persist,
      "--env-file",
      "/dev/null",
      ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
    ],
    { cwd, detached: true, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1" } },
  );
}

/** SIGTERM to the process group `child` leads (spawned detached); nothing if it is gone. */
export function stopProcessGroup(child: ChildProcess): void {
  if (child.pid) {
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      // already gone
    }
  }
}

/** Copies what `wrangler dev` builds from into a fresh directory under `.wrangler/`. */
function snapshotSources(): string {
  const root = path.resolve(import.meta.dirname, "../..");
  const parent = path.join(root, ".wrangler", "snapshots");
  mkdirSync(parent, { recursive: true });
  const dir = mkdtempSync(path.join(parent, "src-"));
  for (const entry of ["wrangler.toml", "src", "migrations"]) cpSync(path.join(root, entry), path.join(dir, entry), { recursive: true });
  return dir;
}

export interface RunningWorker {
  url: string;
  stop: () => void;
}

/** Runs `wrangler dev` on 127.0.0.1 with `vars` (each passed as `--var NAME:value`). */
export async function startWorker(vars: Record<string, string>): Promise<RunningWorker> {
  const state = mkdtempSync(path.join(tmpdir(), "switchyard-worker-"));
  const snapshot = snapshotSources();
  const config = path.join(snapshot, "wrangler.toml");
  const cleanUp = () => {
    rmSync(state, { recursive: true, force: true });
    rmSync(snapshot, { recursive: true, force: true });
  };
  const migrate = spawnSync("npx", ["wrangler", "d1", "migrations", "apply", "DB", "--local", "--config", config, "--persist-to", state], { encoding: "utf8" });
  if (migrate.status !== 0) {
    cleanUp();
    throw new Error(`migrations failed: ${migrate.stderr}`);
  }
  const port = await freePort();
  const child = spawnWranglerDev({ port, persist: state, vars, config });
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  const stop = () => {
    stopProcessGroup(child);
    cleanUp();
  };
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHealth(url, child, 90_000);
  } catch (err) {
    stop();
    throw new Error(`${(err as Error).message}\n${output.slice(-4000)}`);
  }
  return { url, stop };
}
