/**
 * @module Regenerates the typed client from the Worker's own OpenAPI document (docs/client.md).
 *
 * `npm run client:generate` writes the document to `.wrangler/openapi.json` and the client to
 * `clients/typescript/src/generated/`. `npm run client:check` (CI) generates into a scratch
 * folder instead and fails when that differs from the committed files, so the client cannot
 * drift from the Worker; then it type-checks the client with its own tsconfig.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";

const GENERATED = "clients/typescript/src/generated";
const SCRATCH = ".wrangler/client-check";
const check = process.argv.includes("--check");

/** Runs a command from the package root (npm puts node_modules/.bin on PATH); exits with it on failure. */
function run(command, args) {
  const result = spawnSync(command, args, { stdio: "inherit", shell: process.platform === "win32" });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

/** Every file under `dir`, as paths relative to it. */
function filesUnder(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

mkdirSync(".wrangler", { recursive: true });
run("tsx", ["scripts/openapi.mts", ".wrangler/openapi.json"]);
if (check) rmSync(SCRATCH, { recursive: true, force: true });
run(process.execPath, [
  "--import",
  "./clients/typescript/ts6-hook.mjs",
  "node_modules/@hey-api/openapi-ts/dist/run.mjs",
  "--file",
  "clients/typescript/openapi-ts.config.ts",
  ...(check ? ["--output", SCRATCH, "--silent"] : []),
]);

if (check) {
  const committed = new Set(filesUnder(GENERATED));
  const fresh = filesUnder(SCRATCH);
  const drift = [
    ...fresh.filter((f) => !committed.has(f)).map((f) => `new:     ${f}`),
    ...[...committed].filter((f) => !fresh.includes(f)).map((f) => `gone:    ${f}`),
    ...fresh
      .filter((f) => committed.has(f) && readFileSync(path.join(GENERATED, f), "utf8") !== readFileSync(path.join(SCRATCH, f), "utf8"))
      .map((f) => `changed: ${f}`),
  ];
  if (drift.length > 0) {
    console.error(
      `The committed client differs from the Worker's OpenAPI document:\n  ${drift.join("\n  ")}\n` +
        `Run \`npm run client:generate\` and commit ${GENERATED} (compare with: git diff --no-index ${GENERATED} ${SCRATCH}).`,
    );
    process.exit(1);
  }
  run("tsc", ["-p", "clients/typescript/tsconfig.json"]);
  console.log(`client:check: ${GENERATED} matches the document (${fresh.length} files) and type-checks.`);
}
