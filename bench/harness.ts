/**
 * @module Processes of a bench run: migrations into a fresh persist dir, the instrumented
 * Worker (Miniflare's API by default, `wrangler dev` with --mode=dev), the receiver, and
 * CPU time per process read from /proc. Every process started here is stopped by its own
 * pid (a detached process group), never by name.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

export const ROOT = path.resolve(import.meta.dirname, "..");
export const ENTRY = "bench/instrumented-worker.ts";
export const ADMIN_TOKEN = "bench-admin-token";
export const BENCH_VARS: Record<string, string> = {
  ADMIN_TOKEN,
  SECRETS_KEY: "c3dpdGNoeWFyZC1kZXYta2V5LW5vdC1mb3ItcHJvZCE=",
  ALLOW_PRIVATE_URLS: "true",
};

export type Mode = "miniflare" | "dev";

/**
 * The Miniflare that wrangler itself runs (wrangler's own dependency when it has one), so
 * that both modes run the same workerd; `npm ls miniflare` may show an older copy on top.
 */
export function miniflareModule(): { path: string; version: string } {
  const fromWrangler = createRequire(path.join(ROOT, "node_modules", "wrangler", "package.json"));
  const entry = fromWrangler.resolve("miniflare");
  let dir = path.dirname(entry);
  while (!readdirSync(dir).includes("package.json")) dir = path.dirname(dir);
  return { path: entry, version: (JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as { version: string }).version };
}

export interface RunningWorker {
  url: string;
  mode: Mode;
  /** Pids whose CPU time is the Worker runtime's (workerd and, under dev, wrangler). */
  runtimePids(): number[];
  stop(): Promise<void>;
}

const log = (msg: string) => process.stderr.write(`${msg}\n`);

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

function npx(args: string[], what: string): void {
  const r = spawnSync("npx", args, { cwd: ROOT, encoding: "utf8", env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1" } });
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
}

/** A fresh temp dir with the D1 migrations applied to its persist dir. */
export function prepareState(): { dir: string; persist: string; cleanup(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), "switchyard-bench-"));
  const persist = path.join(dir, "state");
  npx(["wrangler", "d1", "migrations", "apply", "DB", "--local", "--persist-to", persist], "d1 migrations apply");
  return { dir, persist, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

async function waitForHealth(url: string, isDead: () => string | null, deadlineMs: number): Promise<void> {
  const start = Date.now();
  while (Date.now() - start < deadlineMs) {
    const dead = isDead();
    if (dead) throw new Error(dead);
    try {
      const res = await fetch(`${url}/health`);
      if (res.status < 500) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the Worker did not answer /health within ${deadlineMs / 1000} s`);
}

/**
 * Experiments only (miniflare mode): replace wrangler.toml's consumer batch settings, to
 * show what another choice would do. Never used unless a flag asks for it.
 */
export interface QueueOverride {
  maxBatchSize?: number;
  maxBatchTimeout?: number;
}

/** Starts the instrumented entry with wrangler.toml's bindings and a fresh persist dir. */
export async function startWorker(mode: Mode, state: { dir: string; persist: string }, queueOverride: QueueOverride = {}): Promise<RunningWorker> {
  if (mode === "dev" && Object.keys(queueOverride).length) throw new Error("queue overrides need --mode=miniflare");
  return mode === "dev" ? startWranglerDev(state) : startMiniflare(state, queueOverride);
}

async function startMiniflare(state: { dir: string; persist: string }, queueOverride: QueueOverride): Promise<RunningWorker> {
  // Bundle the bench entry exactly as `wrangler deploy` would (nodejs_compat included),
  // with wrangler.toml's configuration and only `main` overridden.
  const outdir = path.join(state.dir, "bundle");
  npx(["wrangler", "deploy", "--dry-run", "--outdir", outdir, ENTRY], "bundling the bench entry");
  const script = path.join(outdir, `${path.basename(ENTRY, ".ts")}.js`);
  const { Miniflare, convertV4MiniflareOptions } = (await import(pathToFileURL(miniflareModule().path).href)) as typeof import("miniflare");
  const { unstable_getMiniflareWorkerOptions, unstable_readConfig } = await import("wrangler");
  const configPath = path.join(ROOT, "wrangler.toml");
  const { workerOptions } = unstable_getMiniflareWorkerOptions(configPath);
  const config = unstable_readConfig({ config: configPath });
  // One bundled file: no module rules; vars are wrangler.toml's plus the bench's (never .dev.vars).
  const { modulesRules: _rules, bindings: _vars, ...bindingOptions } = workerOptions as typeof workerOptions & { modulesRules?: unknown };
  const consumers = bindingOptions.queueConsumers as Record<string, Record<string, unknown>> | undefined;
  if (consumers && Object.keys(queueOverride).length) {
    for (const c of Object.values(consumers)) Object.assign(c, queueOverride);
  }
  const plainVars = Object.fromEntries(Object.entries(config.vars ?? {}).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      host: "127.0.0.1",
      port: 0,
      resourcePersistencePath: path.join(state.persist, "v3"),
      workers: [
        {
          ...bindingOptions,
          name: "switchyard",
          // The bundle plus the modules wrangler writes beside it (the TenantLog's migration
          // SQL, imported as Text): Miniflare is told each one.
          modulesRoot: outdir,
          modules: [
            { type: "ESModule", path: script },
            ...readdirSync(outdir)
              .filter((f) => f.endsWith(".sql"))
              .map((f) => ({ type: "Text", path: path.join(outdir, f) })),
          ],
          bindings: { ...plainVars, ...BENCH_VARS },
        },
      ],
    } as Parameters<typeof convertV4MiniflareOptions>[0]),
  );
  const url = (await mf.ready).origin;
  await waitForHealth(url, () => null, 30_000);
  return {
    url,
    mode: "miniflare",
    runtimePids: () => descendants(process.pid).filter((pid) => commOf(pid) === "workerd"),
    stop: () => mf.dispose(),
  };
}

async function startWranglerDev(state: { dir: string; persist: string }): Promise<RunningWorker> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    "npx",
    [
      "wrangler",
      "dev",
      ENTRY,
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--persist-to",
      state.persist,
      "--env-file",
      "/dev/null",
      "--show-interactive-dev-session=false",
      ...Object.entries(BENCH_VARS).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
    ],
    { cwd: ROOT, detached: true, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1" } },
  );
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-8000)));
  child.stderr?.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-8000)));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.pid && child.exitCode === null) {
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        // already gone
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  try {
    await waitForHealth(url, () => (child.exitCode !== null ? `wrangler dev exited with ${child.exitCode}\n${output}` : null), 120_000);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${output.slice(-4000)}`);
  }
  return { url, mode: "dev", runtimePids: () => (child.pid ? [child.pid, ...descendants(child.pid)] : []), stop };
}

// ---------------------------------------------------------------------------------------
// Receiver process.

export interface RunningReceiver {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startReceiver(): Promise<RunningReceiver> {
  const child = spawn(process.execPath, [path.join(ROOT, "bench", "receiver.mjs")], { detached: true, stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = "";
    child.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      const m = buf.match(/listening (\d+)/);
      if (m) resolve(Number(m[1]));
    });
    child.on("exit", (code) => reject(new Error(`receiver exited with ${code}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    stop: async () => {
      try {
        process.kill(-child.pid!, "SIGTERM");
      } catch {
        // already gone
      }
    },
  };
}

// ---------------------------------------------------------------------------------------
// CPU time from /proc (Linux); zeros elsewhere.

const CLK_TCK = 100;

function statFields(pid: number): string[] | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    // comm may hold spaces: fields after the closing paren.
    return s.slice(s.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

/** All descendants of `root` (children's children too). */
export function descendants(root: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync("/proc").filter((e) => /^\d+$/.test(e));
  } catch {
    return [];
  }
  const parent = new Map<number, number>();
  for (const e of entries) {
    const f = statFields(Number(e));
    if (f) parent.set(Number(e), Number(f[1]));
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length) {
    const p = queue.shift()!;
    for (const [child, pp] of parent) {
      if (pp === p) {
        out.push(child);
        queue.push(child);
      }
    }
  }
  return out;
}

/** user + system CPU milliseconds of these processes (their threads included). */
export function cpuMs(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const f = statFields(pid);
    // Fields after "(comm) ": state=0, ppid=1, … utime=11, stime=12.
    if (f) ticks += Number(f[11]) + Number(f[12]);
  }
  return (ticks * 1000) / CLK_TCK;
}

/** CPU ms per thread of these processes, keyed "pid/tid comm". */
export function threadCpuMs(pids: number[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const pid of pids) {
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        const s = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
        const comm = s.slice(s.indexOf("(") + 1, s.lastIndexOf(")"));
        const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
        out.set(`${pid}/${tid} ${comm}`, ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK);
      } catch {
        // thread gone
      }
    }
  }
  return out;
}

export function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}
