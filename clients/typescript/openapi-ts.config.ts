/**
 * @module hey-api configuration of the typed client (docs/client.md). Run through
 * `npm run client:generate`, which first writes the Worker's document to
 * `.wrangler/openapi.json` and loads {@link ./ts6-hook.mjs} so hey-api finds the compiler API
 * it needs; `npm run client:check` passes `-o` to write the same output elsewhere and compare.
 */
import { defineConfig } from "@hey-api/openapi-ts";

export default defineConfig({
  input: ".wrangler/openapi.json",
  output: {
    path: "clients/typescript/src/generated",
    // Our own tsconfig (bundler resolution) so imports stay extensionless whatever tsconfig
    // hey-api would otherwise find walking up from here.
    tsConfigPath: "clients/typescript/tsconfig.json",
  },
  logs: { file: false },
  plugins: [
    // The client is copied into the output (no runtime dependency). No default base URL: the
    // document's `servers` names the local origin, and a client that silently talks to it
    // from production is worse than one that fails; createSwitchyardClient sets the real one.
    { name: "@hey-api/client-fetch", baseUrl: false },
    "@hey-api/typescript",
    "@hey-api/sdk",
  ],
});
