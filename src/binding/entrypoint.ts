/**
 * @module The service binding for host Workers (DESIGN.md "Service binding — for host
 * Workers", docs/service-binding.md): a `WorkerEntrypoint` whose public methods are the RPC
 * surface. Each method takes what the matching HTTP route takes, validates it with the
 * same schemas, calls the same `core/` verb and answers the same JSON as a typed result;
 * errors come back as values (`describeError`, the API's one mapping), never thrown.
 *
 * There is no token: whatever is bound to this entrypoint acts as the operator for every
 * tenant. Helpers are `#private` because TypeScript's `private` is still callable over RPC.
 */
import { z } from "@hono/zod-openapi";
import { WorkerEntrypoint } from "cloudflare:workers";
import type { Deps } from "../core/deps";
import { decodeCursor, iso, page } from "../api/schemas";
import { EndpointCreate, EndpointListQuery, EndpointPatch, MAX_JSON_BODY_BYTES, PortalSessionCreate, TenantCreate, toEndpoint, toTenant } from "../api/shapes";
import { pipelineDeps } from "../core/deps";
import * as endpoints from "../core/endpoints";
import * as events from "../core/events";
import * as tenants from "../core/tenants";
import { MAX_JSON_DEPTH, nestsDeeperThan, TOO_DEEP_MESSAGE } from "../domain/json-depth";
import { AppError, describeError, invalid, issuesToErrors, problemBody } from "../errors";
import { createPortalLink, PORTAL_LINK_DEFAULT_S, portalLoginUrl } from "../core/portal-sessions";
import type {
  BindingProblem,
  BindingResult,
  Endpoint,
  EndpointCreated,
  EndpointInput,
  EndpointList,
  EndpointListOptions,
  EndpointUpdate,
  EventAccepted,
  EventInput,
  PortalLink,
  PortalLinkInput,
  SendEventOptions,
  SwitchyardRpc,
  Tenant,
  TenantInput,
} from "./types";

type Success<T, S extends number> = { status: S; value: T };

/** The service binding a host Worker calls; `implements` keeps `types.ts` (the hosts' copy) true. */
export class SwitchyardEntrypoint extends WorkerEntrypoint<Env> implements SwitchyardRpc {
  /**
   * Posts an event for a tenant, as `POST /v1/tenants/{tid}/events` does.
   *
   * @param event serialised with `JSON.stringify`; over `MAX_PAYLOAD_BYTES` of JSON is a 413
   * @param options `idempotencyKey` is the API's `Idempotency-Key` (the event's `id` wins)
   * @returns status 202 with the new event, or 200 with the event first accepted under the same key
   * @example const r = await env.SWITCHYARD.sendEvent("acme", { type: "report.completed", data: { id: 7 } });
   */
  async sendEvent(tenantId: string, event: EventInput, options: SendEventOptions = {}): Promise<BindingResult<EventAccepted, 200 | 202>> {
    return this.#run(async (d) => {
      const key = (options ?? {}).idempotencyKey;
      if (key !== undefined && typeof key !== "string") throw invalid([{ path: "Idempotency-Key", message: "must be a string" }]);
      // ingestEvent checks the nesting depth itself, as it does for an HTTP body.
      const body = jsonText(event, d.config.maxPayloadBytes, "data");
      const { status, event: accepted } = await events.ingestEvent(d, stringArg(tenantId, "tenantId"), body, key);
      return { status, value: { id: accepted.id, type: accepted.type, created_at: iso(accepted.createdAt)! } };
    });
  }

  /** Creates a tenant (`POST /v1/tenants`); an existing id is a 409. */
  async createTenant(input: TenantInput): Promise<BindingResult<Tenant, 201>> {
    return this.#run(async (d) => ({ status: 201, value: toTenant(await tenants.createTenant(d, parseInput(TenantCreate, input))) }));
  }

  /** Reads a tenant (`GET /v1/tenants/{tid}`). */
  async getTenant(tenantId: string): Promise<BindingResult<Tenant, 200>> {
    return this.#run(async (d) => ({ status: 200, value: toTenant(await tenants.getTenant(d, stringArg(tenantId, "tenantId"))) }));
  }

  /** Creates an endpoint (`POST /v1/tenants/{tid}/endpoints`); the result carries its secret this once. */
  async createEndpoint(tenantId: string, input: EndpointInput): Promise<BindingResult<EndpointCreated, 201>> {
    return this.#run(async (d) => {
      const tid = stringArg(tenantId, "tenantId");
      const { row, secret } = await endpoints.createEndpoint(d, tid, parseInput(EndpointCreate, input));
      return { status: 201, value: { ...toEndpoint(row, d.now), secret } };
    });
  }

  /** One page of a tenant's endpoints, newest first (`GET /v1/tenants/{tid}/endpoints`). */
  async listEndpoints(tenantId: string, options: EndpointListOptions = {}): Promise<BindingResult<EndpointList, 200>> {
    return this.#run(async (d) => {
      const tid = stringArg(tenantId, "tenantId");
      // The API's query schema reads `limit` from a query string; the same schema (and its
      // messages) judges a number given here.
      const o = (options ?? {}) as Record<string, unknown>;
      const { limit, cursor, status } = parseInput(EndpointListQuery, { ...o, limit: o.limit === undefined ? undefined : String(o.limit) });
      const rows = await endpoints.listEndpoints(d, tid, { status, before: decodeCursor<string>(cursor, "string"), limit });
      const p = page(rows, limit, (e) => e.id);
      return { status: 200, value: { data: p.data.map((e) => toEndpoint(e, d.now)), next_cursor: p.next_cursor } };
    });
  }

  /** Reads an endpoint (`GET /v1/tenants/{tid}/endpoints/{eid}`). */
  async getEndpoint(tenantId: string, endpointId: string): Promise<BindingResult<Endpoint, 200>> {
    return this.#run(async (d) => ({
      status: 200,
      value: toEndpoint(await endpoints.getEndpoint(d, stringArg(tenantId, "tenantId"), stringArg(endpointId, "endpointId")), d.now),
    }));
  }

  /**
   * Updates an endpoint (`PATCH /v1/tenants/{tid}/endpoints/{eid}`): each field named is
   * replaced whole, null clears; `{ status: "paused" }` pauses, `"active"` resumes or re-enables.
   */
  async updateEndpoint(tenantId: string, endpointId: string, update: EndpointUpdate): Promise<BindingResult<Endpoint, 200>> {
    return this.#run(async (d) => {
      const tid = stringArg(tenantId, "tenantId");
      const eid = stringArg(endpointId, "endpointId");
      const { after } = await endpoints.updateEndpoint(d, tid, eid, parseInput(EndpointPatch, update));
      return { status: 200, value: toEndpoint(after, d.now) };
    });
  }

  /** Deletes an endpoint; its pending deliveries are cancelled (`DELETE /v1/tenants/{tid}/endpoints/{eid}`). */
  async deleteEndpoint(tenantId: string, endpointId: string): Promise<BindingResult<null, 204>> {
    return this.#run(async (d) => {
      await endpoints.deleteEndpoint(d, stringArg(tenantId, "tenantId"), stringArg(endpointId, "endpointId"));
      return { status: 204, value: null };
    });
  }

  /**
   * A one-time magic link into the tenant portal (`POST /v1/tenants/{tid}/portal-sessions`).
   * `origin` is where tenants reach this Worker: a binding call has no request URL to take it from.
   */
  async createPortalLink(tenantId: string, input: PortalLinkInput): Promise<BindingResult<PortalLink, 201>> {
    return this.#run(async (d) => {
      const tid = stringArg(tenantId, "tenantId");
      const { origin, expires_in, read_only } = parseInput(PortalLinkCreate, input);
      const link = await createPortalLink(d, tid, { expiresIn: expires_in ?? PORTAL_LINK_DEFAULT_S, readOnly: read_only ?? false });
      return { status: 201, value: { url: portalLoginUrl(origin, link.token), expires_at: iso(link.expiresAt)! } };
    });
  }

  /** Runs one verb with fresh deps and turns whatever it throws into the API's problem, as a value. */
  async #run<T, S extends number>(work: (d: Deps) => Promise<Success<T, S>>): Promise<BindingResult<T, S>> {
    try {
      const { status, value } = await work(pipelineDeps(this.env));
      return { ok: true, status, value };
    } catch (err) {
      return { ok: false, error: toBindingProblem(err) };
    }
  }
}

/** `PortalSessionCreate` plus where the link points. */
const PortalLinkCreate = PortalSessionCreate.extend({
  origin: z.string().refine(isOrigin, "must be an origin such as https://webhooks.example.com (http or https, no path)"),
});

function isOrigin(value: string): boolean {
  const url = URL.parse(value);
  if (url === null || (url.protocol !== "https:" && url.protocol !== "http:")) return false;
  return url.username === "" && url.password === "" && url.pathname === "/" && url.search === "" && url.hash === "";
}

function toBindingProblem(err: unknown): BindingProblem {
  const { status, detail, options } = describeError(err);
  const problem: BindingProblem = problemBody(status, detail, options);
  if (options.retryAfter !== undefined) problem.retry_after = options.retryAfter;
  return problem;
}

/** A string argument; anything else is the 422 a wrong path segment cannot cause over HTTP. */
function stringArg(value: unknown, name: string): string {
  if (typeof value !== "string") throw invalid([{ path: name, message: "must be a string" }]);
  return value;
}

/**
 * An input as the JSON body the HTTP API would have received (`undefined` members dropped,
 * dates as strings), refused as an HTTP body would be when over `maxBytes` (413). `deepPath`
 * names the field blamed when the runtime's recursive stringify overflows.
 */
function jsonText(input: unknown, maxBytes: number, deepPath: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(input);
  } catch (err) {
    // RangeError: nested too deep for the runtime's stringify; TypeError: a BigInt or a cycle.
    throw invalid([err instanceof RangeError ? { path: deepPath, message: TOO_DEEP_MESSAGE } : { path: "(body)", message: "must be JSON: no BigInt, cycle or function" }]);
  }
  // An absent input reads as the JSON `null`, which every check refuses as "not an object".
  text ??= "null";
  if (new TextEncoder().encode(text).byteLength > maxBytes) throw new AppError(413, `The input is larger than ${maxBytes} bytes as JSON.`);
  return text;
}

/**
 * Validates an input with the HTTP route's own schema, after the checks the API's
 * middleware makes on every control-plane body (size, nesting depth).
 */
function parseInput<T extends z.ZodTypeAny>(schema: T, input: unknown): z.output<T> {
  const text = jsonText(input, MAX_JSON_BODY_BYTES, "(body)");
  if (nestsDeeperThan(text, MAX_JSON_DEPTH)) throw invalid([{ path: "(body)", message: TOO_DEEP_MESSAGE }]);
  const result = schema.safeParse(JSON.parse(text));
  if (!result.success) throw invalid(issuesToErrors(result.error.issues));
  return result.data;
}
