import { defineConfig } from "drizzle-kit";

// The TenantLog's own schema (docs/data-plane-v2.md): its migrations are bundled into the
// Durable Object and applied in blockConcurrencyWhile, never by wrangler.
export default defineConfig({
  dialect: "sqlite",
  driver: "durable-sqlite",
  schema: "./src/tenant-log/schema.ts",
  out: "./src/tenant-log/migrations",
});
