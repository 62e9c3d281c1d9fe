// npm start: .dev.vars from the example when missing, local D1 migrations, then wrangler dev
// on 8787 (or the port given: `npm start -- --port 8791`).
import { copyFileSync, existsSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { wranglerDevArgs } from "./dev-args.mjs";

if (!existsSync(".dev.vars")) {
  copyFileSync(".dev.vars.example", ".dev.vars");
  console.log("Created .dev.vars from .dev.vars.example");
}
const run = (args) => {
  const r = spawnSync("npx", args, { stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
run(["wrangler", "d1", "migrations", "apply", "DB", "--local"]);
run(wranglerDevArgs(process.argv.slice(2)));
