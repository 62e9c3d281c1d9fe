// npm run check:deploy: Cloudflare refuses experimental compatibility flags at upload and
// `wrangler deploy --dry-run` cannot tell. Ask the project's own workerd: started without
// --experimental, it refuses such a flag ("... is experimental ... you must pass --experimental").
// Usage: node scripts/check-compat-flags.mjs [--config <path to wrangler.toml>]
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const KNOWN_EXPERIMENTAL = "service_binding_extra_handlers";
const START_TIMEOUT_MS = 10_000; // upper bound only: workerd reports "listen" within milliseconds

function fail(message) {
  console.error(`check-compat-flags: ${message}`);
  process.exit(1);
}

function parseArgs(argv) {
  let config = fileURLToPath(new URL("../wrangler.toml", import.meta.url));
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--config" && argv[i + 1]) config = resolve(argv[++i]);
    else fail(`unknown argument ${argv[i]} (usage: check-compat-flags.mjs [--config <wrangler.toml>])`);
  }
  return { config };
}

// Drops a `#` comment that is not inside a string.
function stripComment(line) {
  let quote = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === "\\" && quote === '"') i++;
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === "#") return line.slice(0, i);
  }
  return line;
}

const STRING = /"((?:[^"\\]|\\.)*)"|'([^']*)'/g;
const strings = (text) => [...text.matchAll(STRING)].map((m) => m[1] ?? m[2]);

// A small line parser: the top-level compatibility_date, and the compatibility_flags of
// the top level and of every [env.*] table (an array may span several lines).
function readWranglerToml(path) {
  const lines = readFileSync(path, "utf8").split(/\r?\n/).map(stripComment);
  let date;
  const flags = new Set();
  let topLevel = true;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line.startsWith("[")) {
      topLevel = false;
      continue;
    }
    const dateMatch = /^compatibility_date\s*=\s*(.*)$/.exec(line);
    if (dateMatch && topLevel) date = strings(dateMatch[1])[0];
    const flagsMatch = /^compatibility_flags\s*=\s*(.*)$/.exec(line);
    if (flagsMatch) {
      let text = flagsMatch[1];
      while (!text.includes("]") && i + 1 < lines.length) text += " " + lines[++i];
      if (!text.trimStart().startsWith("[") || !text.includes("]")) {
        fail(`${path}: cannot read compatibility_flags (expected an array of strings)`);
      }
      for (const flag of strings(text.slice(0, text.indexOf("]")))) flags.add(flag);
    }
  }
  if (!date) fail(`${path}: no top-level compatibility_date`);
  return { date, flags: [...flags] };
}

// The same binary Miniflare runs: the `workerd` package's main export is its path for this platform.
function findWorkerd() {
  const require = createRequire(import.meta.url);
  try {
    const workerd = require("workerd");
    return { bin: workerd.default, version: workerd.version };
  } catch (error) {
    fail(`cannot find the project's workerd (npm install?): ${error.message}`);
  }
}

// Starts workerd on a one-module worker with this one flag and no --experimental.
// Resolves { verdict: "accepted" | "experimental" | "refused" | "undecided", output }.
function tryFlag(workerd, dir, date, flag) {
  if (!/^[A-Za-z0-9_]+$/.test(flag)) return Promise.resolve({ verdict: "refused", output: "not a flag name" });
  const config = join(dir, `${flag}.capnp`);
  writeFileSync(
    config,
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = ( services = [ (name = "main", worker = .w) ], sockets = [ (name = "http", address = "127.0.0.1:0", http = (), service = "main") ] );
const w :Workerd.Worker = ( modules = [ (name = "w.js", esModule = embed "w.js") ], compatibilityDate = "${date}", compatibilityFlags = ["${flag}"] );
`,
  );
  return new Promise((done) => {
    // fd 3: workerd's control channel; it writes {"event":"listen",...} once the socket serves.
    const child = spawn(workerd.bin, ["serve", "--control-fd=3", config], {
      stdio: ["ignore", "pipe", "pipe", "pipe"],
    });
    let output = "";
    let listening = false;
    let timedOut = false;
    const stop = () => {
      try {
        process.kill(child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, START_TIMEOUT_MS);
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.stdio[3].on("data", (d) => {
      if (!listening && String(d).includes('"listen"')) {
        listening = true;
        stop();
      }
    });
    child.on("error", (error) => {
      clearTimeout(timer);
      done({ verdict: "refused", output: `cannot run ${workerd.bin}: ${error.message}` });
    });
    child.on("close", () => {
      clearTimeout(timer);
      output = output.trim();
      if (/experimental/i.test(output)) done({ verdict: "experimental", output });
      else if (listening) done({ verdict: "accepted", output });
      else if (timedOut) done({ verdict: "undecided", output });
      else done({ verdict: "refused", output });
    });
  });
}

const { config } = parseArgs(process.argv.slice(2));
const { date, flags } = readWranglerToml(config);
const workerd = findWorkerd();
const short = (path) => (relative(process.cwd(), path).startsWith("..") ? path : relative(process.cwd(), path));
const shown = short(config);
console.log(`check-compat-flags: ${shown}, compatibility_date ${date}, workerd ${workerd.version} (${short(workerd.bin)})`);

// Returns the exit code; every failure is printed here.
async function check(dir) {
  writeFileSync(join(dir, "w.js"), 'export default { fetch() { return new Response("ok"); } };\n');

  // The detector must see a known experimental flag, or a pass would mean nothing.
  const probe = await tryFlag(workerd, dir, date, KNOWN_EXPERIMENTAL);
  if (probe.verdict !== "experimental") {
    console.error(
      `check-compat-flags: cannot tell experimental flags apart: workerd did not report the known ` +
        `experimental flag ${KNOWN_EXPERIMENTAL} as experimental (${probe.verdict}${probe.output ? `: ${probe.output}` : ""})`,
    );
    return 1;
  }
  console.log(`self-check: ${KNOWN_EXPERIMENTAL} is reported as experimental`);

  const experimental = [];
  const other = [];
  for (const flag of flags) {
    const { verdict, output } = await tryFlag(workerd, dir, date, flag);
    const note = output ? ` (workerd: ${output.replace(/\s+/g, " ")})` : "";
    console.log(`${flag}: ${verdict}${note}`);
    if (verdict === "experimental") experimental.push(flag);
    else if (verdict !== "accepted") other.push(`${flag}: ${verdict}${note}`);
  }
  if (flags.length === 0) console.log("no compatibility flags set");

  if (experimental.length > 0) {
    console.error(
      `\n${shown} sets experimental compatibility flag(s) that Cloudflare refuses at upload: ${experimental.join(", ")}.\n` +
        `Test-only flags belong in vitest.config.ts's Miniflare options ` +
        `(cloudflareTest({ miniflare: { compatibilityFlags: [...] } })), not in wrangler.toml.`,
    );
  }
  if (other.length > 0) console.error(`\nworkerd did not accept: ${other.join("; ")}`);
  return experimental.length > 0 || other.length > 0 ? 1 : 0;
}

const dir = mkdtempSync(join(tmpdir(), "switchyard-compat-"));
try {
  process.exitCode = await check(dir);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
