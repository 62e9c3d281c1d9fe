/**
 * @module The typed Switchyard client: one function per API operation, named by its
 * `operationId` (`sendEvent`, `createEndpoint`, `listDeliveries`, `retryDelivery` …), with
 * request and response types from the Worker's OpenAPI document. Everything under
 * `./generated` is written by `npm run client:generate` and must not be edited by hand
 * (docs/client.md).
 *
 * @example
 * ```ts
 * import { createSwitchyardClient, sendEvent } from "./clients/typescript/src";
 *
 * const client = createSwitchyardClient({ baseUrl: "https://webhooks.example.com", token: process.env.SWITCHYARD_TOKEN! });
 * const { data, error } = await sendEvent({ client, path: { tid: "acme" }, body: { type: "report.completed", data: { report_id: "rep_123" } } });
 * if (error) console.error(error.status, error.detail); // an RFC 9457 problem document
 * else console.log(data.id);
 * ```
 */
import { type Client, createClient, createConfig } from "./generated/client";

export * from "./generated";
export type { Client } from "./generated/client";

/** How to reach one Switchyard deployment. */
export interface SwitchyardClientOptions {
  /** The Worker's origin, e.g. `https://webhooks.example.com` or `http://localhost:8787`. */
  baseUrl: string;
  /** The admin token (`ADMIN_TOKEN`) or a tenant API key; sent as `Authorization: Bearer …`. */
  token: string;
}

/**
 * A client for one deployment, to pass as `client` to every operation. Each call answers
 * `{ data, error, request, response }`: `data` on a 2xx, otherwise `error`, the problem
 * document typed by the statuses the operation declares.
 *
 * @param options The Worker's origin and the bearer token.
 * @returns A client whose requests carry that base URL and token.
 * @example
 * ```ts
 * const client = createSwitchyardClient({ baseUrl: "http://localhost:8787", token: "dev-admin-token" });
 * const { data } = await listDeliveries({ client, path: { tid: "acme", eid }, query: { status: "failed" } });
 * ```
 */
export function createSwitchyardClient(options: SwitchyardClientOptions): Client {
  // The generated paths start with `/v1` or `/health`, so a trailing slash would double it.
  return createClient(createConfig({ baseUrl: options.baseUrl.replace(/\/+$/, ""), auth: options.token }));
}
