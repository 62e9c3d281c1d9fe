import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, "migrations"));
  return {
    test: {
      projects: [
        {
          test: {
            name: "unit",
            include: ["test/unit/**/*.test.ts"],
            environment: "node",
            // Sized for the full suite on a loaded 2-core CI machine, not for one file alone.
            testTimeout: 30_000,
            hookTimeout: 60_000,
          },
        },
        {
          plugins: [
            cloudflareTest({
              wrangler: { configPath: "./wrangler.toml" },
              miniflare: {
                // Experimental, so never in wrangler.toml (production refuses it): lets tests
                // call exports.default.queue() and see each retry's delaySeconds.
                compatibilityFlags: ["service_binding_extra_handlers"],
                bindings: {
                  TEST_MIGRATIONS: migrations,
                  ADMIN_TOKEN: "test-admin-token",
                  SECRETS_KEY: "c3dpdGNoeWFyZC1kZXYta2V5LW5vdC1mb3ItcHJvZCE=",
                  ALLOW_PRIVATE_URLS: "true",
                },
                // The host Worker of test/integration/binding.test.ts, reached as HOST; it binds
                // our SwitchyardEntrypoint by the name the pool gives the Worker under test
                // ("vitest-plugin-runner-" + this project's name).
                serviceBindings: { HOST: "host" },
                workers: [
                  {
                    name: "host",
                    modules: true,
                    scriptPath: "./test/support/host-worker.js",
                    compatibilityDate: "2026-11-01",
                    serviceBindings: { SWITCHYARD: { name: "vitest-plugin-runner-integration", entrypoint: "SwitchyardEntrypoint" } },
                  },
                ],
              },
            }),
          ],
          test: {
            name: "integration",
            include: ["test/integration/**/*.test.ts"],
            setupFiles: ["./test/integration/apply-migrations.ts"],
            globalSetup: ["./test/integration/global-setup.ts"],
            // Sized for the full suite on a loaded 2-core CI machine (an SSRF property test took 1.3 s alone, > 5 s there).
            testTimeout: 30_000,
            hookTimeout: 60_000,
          },
        },
        {
          test: {
            name: "e2e",
            include: ["test/e2e/**/*.test.ts"],
            environment: "node",
            globalSetup: ["./test/e2e/global-setup.ts"],
            testTimeout: 60_000,
            hookTimeout: 120_000,
            fileParallelism: false,
          },
        },
        {
          test: {
            name: "browser",
            include: ["test/browser/**/*.test.ts"],
            environment: "node",
            globalSetup: ["./test/browser/global-setup.ts"],
            testTimeout: 180_000,
            hookTimeout: 120_000,
            fileParallelism: false,
          },
        },
      ],
    },
  };
});
