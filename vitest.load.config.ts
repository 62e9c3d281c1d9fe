/**
 * The load test (issue 13, item 3), outside `npm test`: the real Worker under
 * `wrangler dev` and a receiver, started by test/load/global-setup.ts.
 *   npx vitest run --config vitest.load.config.ts
 * Size and timing: LOAD_EVENTS (10000), LOAD_TENANTS (10), LOAD_ENDPOINTS (5 per tenant),
 * LOAD_FLIP_MS (3000), LOAD_CONCURRENCY (16), LOAD_TIMEOUT_MIN (90), LOAD_REPORT (a JSON file).
 */
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    name: "load",
    include: ["test/load/**/*.test.ts"],
    environment: "node",
    globalSetup: ["./test/load/global-setup.ts"],
    fileParallelism: false,
    testTimeout: 3 * 60 * 60_000,
    hookTimeout: 300_000,
  },
});
