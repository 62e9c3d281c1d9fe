/**
 * Starts a receiver and the real Worker under `wrangler dev` (test/support/worker.ts) for
 * the end-to-end suite.
 */
import type { TestProject } from "vitest/node";
import { startReceiver } from "../support/receiver";
import { startWorker } from "../support/worker";

declare module "vitest" {
  export interface ProvidedContext {
    receiverUrl: string;
    workerUrl: string;
    adminToken: string;
  }
}

export const E2E_ADMIN_TOKEN = "e2e-admin-token";
/** Small enough that the auto-disable test finishes quickly. */
export const E2E_AUTO_DISABLE_AFTER_S = 4;

export default async function setup(project: TestProject) {
  const receiver = await startReceiver();
  const worker = await startWorker({
    ADMIN_TOKEN: E2E_ADMIN_TOKEN,
    SECRETS_KEY: "c3dpdGNoeWFyZC1kZXYta2V5LW5vdC1mb3ItcHJvZCE=",
    ALLOW_PRIVATE_URLS: "true",
    AUTO_DISABLE_AFTER_S: String(E2E_AUTO_DISABLE_AFTER_S),
  }).catch(async (err) => {
    await receiver.close();
    throw err;
  });
  project.provide("receiverUrl", receiver.url);
  project.provide("workerUrl", worker.url);
  project.provide("adminToken", E2E_ADMIN_TOKEN);
  return async () => {
    worker.stop();
    await receiver.close();
  };
}
