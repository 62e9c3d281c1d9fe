/**
 * @module Helpers of the portal tests: making a magic link through the API, opening it,
 * and a small browser-like client that keeps the session cookie and sends forms with the
 * page's CSRF token.
 */
import { exports } from "cloudflare:workers";
import { expect } from "vitest";
import { api } from "./helpers";

export const ORIGIN = "http://x";

export const PORTAL_CSP =
  "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'self'";

/** Asks the API for a magic link; returns the link. */
export async function magicLink(tenantId: string, body: { expires_in?: number; read_only?: boolean } = {}): Promise<string> {
  const res = await api(`/v1/tenants/${tenantId}/portal-sessions`, { body });
  expect(res.status, res.text).toBe(201);
  return res.body.url as string;
}

export interface PortalPage {
  status: number;
  headers: Headers;
  html: string;
}

/** One request to the Worker, redirects not followed. */
export async function fetchPortal(path: string, init: RequestInit = {}): Promise<PortalPage> {
  const res = await exports.default.fetch(new Request(path.startsWith("http") ? path : `${ORIGIN}${path}`, { redirect: "manual", ...init }));
  return { status: res.status, headers: res.headers, html: await res.text() };
}

/** The `_csrf` hidden field of a page. */
export function csrfOf(html: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(html);
  expect(m, "a page with a CSRF field").not.toBeNull();
  return m![1]!;
}

/** A signed-in viewer: the cookie from opening the link, and the session's CSRF token. */
export class PortalClient {
  constructor(
    readonly cookie: string,
    readonly csrf: string,
  ) {}

  /** Opens a fresh magic link for the tenant and signs in. */
  static async open(tenantId: string, opts: { read_only?: boolean; expires_in?: number } = {}): Promise<PortalClient> {
    const opened = await fetchPortal(await magicLink(tenantId, opts));
    expect(opened.status).toBe(303);
    const cookie = opened.headers.get("set-cookie")!.split(";")[0]!;
    const home = await fetchPortal("/portal", { headers: { cookie } });
    expect(home.status, home.html).toBe(200);
    return new PortalClient(cookie, csrfOf(home.html));
  }

  get(path: string): Promise<PortalPage> {
    return fetchPortal(path, { headers: { cookie: this.cookie } });
  }

  /**
   * Sends a form as a same-origin browser would. `fields` may repeat a name (checkboxes);
   * the session's CSRF token is added unless `csrf` says otherwise.
   */
  post(path: string, fields: [string, string][] | Record<string, string> = {}, opts: { csrf?: string | null; headers?: Record<string, string> } = {}): Promise<PortalPage> {
    const form = new URLSearchParams(Array.isArray(fields) ? fields : Object.entries(fields));
    const csrf = opts.csrf === undefined ? this.csrf : opts.csrf;
    if (csrf !== null) form.set("_csrf", csrf);
    return fetchPortal(path, {
      method: "POST",
      headers: { cookie: this.cookie, origin: ORIGIN, "content-type": "application/x-www-form-urlencoded", ...opts.headers },
      body: form.toString(),
    });
  }
}

/** The fields of the add-endpoint form with its defaults, overridden by `over`. */
export function endpointFields(over: Record<string, string> = {}): Record<string, string> {
  return {
    url: "https://example.com/hook",
    description: "",
    events: "all",
    patterns: "",
    exclude: "",
    format: "standard",
    signature: "standard",
    method: "POST",
    ordering: "none",
    rate_limit: "",
    timeout_s: "15",
    retry_schedule: "",
    headers: "",
    auth_type: "",
    ...over,
  };
}

/** The visible text of a page, tags removed and entities of the markup decoded. */
export function textOf(html: string): string {
  return html
    .replace(/<[^>]*>/g, " ")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, "&")
    .replace(/\s+/g, " ");
}
