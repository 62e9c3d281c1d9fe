// npm start: .dev.vars from the example when missing, local D1 migrations, then wrangler dev on 8787.
import { copyFileSync, existsSync } from "node:fs";
import { spawnSync } from "node:child_process";

if (!existsSync(".dev.vars")) {
  copyFileSync(".dev.vars.example", ".dev.vars");
  console.log("Created .dev.vars from .dev.vars.example");
}
const run = (args) => {
  const r = spawnSync("npx", args, { stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
run(["wrangler", "d1", "migrations", "apply", "DB", "--local"]);
run(["wrangler", "dev", "--port", "8787", ...process.argv.slice(2)]);
