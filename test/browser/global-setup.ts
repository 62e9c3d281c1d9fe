/**
 * The browser suite's world: a receiver, a "host app" page server that embeds the portal
 * in an iframe from another site (http://localhost:<port>, while the Worker is on
 * http://127.0.0.1), and the real Worker under `wrangler dev` whose
 * PORTAL_FRAME_ANCESTORS allows that host app.
 */
import { createServer, type Server } from "node:http";
import type { TestProject } from "vitest/node";
import { startReceiver } from "../support/receiver";
import { freePort, startWorker } from "../support/worker";

declare module "vitest" {
  export interface ProvidedContext {
    receiverUrl: string;
    workerUrl: string;
    adminToken: string;
    /** The allowed host app (another site than the Worker). */
    hostAppUrl: string;
    /** The same page server on an origin PORTAL_FRAME_ANCESTORS does not allow. */
    otherHostAppUrl: string;
  }
}

export const BROWSER_ADMIN_TOKEN = "browser-admin-token";

const attr = (s: string) => s.replaceAll("&", "&amp;").replaceAll('"', "&quot;").replaceAll("<", "&lt;");

/** GET /embed?src=<url>: a page of the host app with the portal in an iframe. */
async function startHostApp(port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const src = url.searchParams.get("src") ?? "";
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Acme Fleet</title>
<style>body{font:16px system-ui;margin:0;background:#eef1f6}header{background:#12213f;color:#fff;padding:12px 20px;font-weight:700}
iframe{display:block;width:100%;height:900px;border:0;background:#fff}</style></head>
<body><header>Acme Fleet · Settings · Webhooks</header><iframe title="Webhooks" src="${attr(src)}" allow="clipboard-write"></iframe></body></html>`);
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return server;
}

export default async function setup(project: TestProject) {
  const receiver = await startReceiver();
  const hostPort = await freePort();
  const hostApp = await startHostApp(hostPort);
  const hostAppUrl = `http://localhost:${hostPort}`;
  const worker = await startWorker({
    ADMIN_TOKEN: BROWSER_ADMIN_TOKEN,
    SECRETS_KEY: "c3dpdGNoeWFyZC1kZXYta2V5LW5vdC1mb3ItcHJvZCE=",
    ALLOW_PRIVATE_URLS: "true",
    PORTAL_FRAME_ANCESTORS: `'self' ${hostAppUrl}`,
  }).catch(async (err) => {
    await receiver.close();
    hostApp.close();
    throw err;
  });
  project.provide("receiverUrl", receiver.url);
  project.provide("workerUrl", worker.url);
  project.provide("adminToken", BROWSER_ADMIN_TOKEN);
  project.provide("hostAppUrl", hostAppUrl);
  project.provide("otherHostAppUrl", `http://127.0.0.1:${hostPort}`);
  return async () => {
    worker.stop();
    hostApp.closeAllConnections();
    await new Promise<void>((resolve) => hostApp.close(() => resolve()));
    await receiver.close();
  };
}
