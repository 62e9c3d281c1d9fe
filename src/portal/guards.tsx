/**
 * @module The portal's trust boundary: security headers on every answer, the session
 * cookie, and the guard in front of every write (same origin, CSRF token, not read-only).
 */
import type { Context, MiddlewareHandler } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { getConfig } from "../config";
import { constantTimeEqual } from "../domain/constant-time";
import { pipelineDeps } from "../core/deps";
import { PORTAL_BASE, sessionOf, type PortalContext, type PortalEnv } from "./context";
import { field } from "./forms";
import { LINK_MESSAGES, MessagePage, notFoundBack, type LinkProblem } from "./pages/messages";
import { findPortalSession } from "../core/portal-sessions";

export const SESSION_COOKIE = "switchyard_portal";

/** The portal's CSP; `frameAncestors` is `PORTAL_FRAME_ANCESTORS` (the hosts that may embed it). */
export function portalCsp(frameAncestors: string): string {
  // The setting is a space-separated source list: a ";" or "," would start another directive.
  const ancestors = frameAncestors.replace(/[;,\r\n]/g, " ").trim() || "'self'";
  return `default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors ${ancestors}`;
}

/** The security headers of every page answer (the portal's and the console's); pages are never cached. */
export function setPageHeaders(h: Headers, frameAncestors: string): void {
  h.set("content-security-policy", portalCsp(frameAncestors));
  h.set("x-content-type-options", "nosniff");
  // not "no-referrer": with it, browsers send "Origin: null" on our own form posts.
  h.set("referrer-policy", "same-origin");
  if (!h.has("cache-control")) h.set("cache-control", "no-store");
}

/** CSP and friends on every portal answer; pages (tenant data) are never cached. */
export const portalHeaders: MiddlewareHandler<PortalEnv> = async function portalHeaders(c, next) {
  c.set("deps", pipelineDeps(c.env));
  await next();
  setPageHeaders(c.res.headers, getConfig(c.env).portalFrameAncestors);
};

/** The attributes of a session cookie (portal and console): it also works inside another site's iframe. */
export const SESSION_COOKIE_ATTRIBUTES = { httpOnly: true, secure: true, sameSite: "None", partitioned: true } as const;

/** Starts the session a redeemed link made. */
export function setSessionCookie(c: PortalContext, token: string, maxAgeSeconds: number): void {
  setCookie(c, SESSION_COOKIE, token, { ...SESSION_COOKIE_ATTRIBUTES, path: PORTAL_BASE, maxAge: maxAgeSeconds });
}

export function clearSessionCookie(c: PortalContext): void {
  deleteCookie(c, SESSION_COOKIE, { ...SESSION_COOKIE_ATTRIBUTES, path: PORTAL_BASE });
}

/** A page explaining why a link or session cannot be used, with its status. */
export function linkProblem(c: PortalContext, problem: LinkProblem): Response | Promise<Response> {
  const m = LINK_MESSAGES[problem];
  c.status(m.status);
  return c.render(
    <MessagePage heading={m.heading}>
      <p>{m.text}</p>
    </MessagePage>,
    { title: m.heading },
  );
}

/** Every page but the login link and the assets needs a live session. */
export const requireSession: MiddlewareHandler<PortalEnv> = async function requireSession(c, next) {
  const token = getCookie(c, SESSION_COOKIE);
  const session = token ? await findPortalSession(c.var.deps, token) : null;
  if (!session) {
    if (token) clearSessionCookie(c);
    return linkProblem(c, token ? "ended" : "missing");
  }
  c.set("session", session);
  await next();
};

/** POSTs that only read (revealing the secret) or end the session: allowed to view-only sessions. */
const READ_ONLY_POSTS = [/^\/portal\/endpoints\/[^/]+\/secret$/, /^\/portal\/logout$/];

function refuse(c: PortalContext, heading: string, text: string): Response | Promise<Response> {
  c.status(403);
  return c.render(
    <MessagePage heading={heading} back={notFoundBack}>
      <p>{text}</p>
    </MessagePage>,
    { title: heading },
  );
}

/** A form posted from another site (its Origin, or the browser's Sec-Fetch-Site, says so). */
export function isCrossSiteForm(c: Context): boolean {
  const origin = c.req.header("origin");
  return (origin !== undefined && origin !== new URL(c.req.url).origin) || c.req.header("sec-fetch-site") === "cross-site";
}

/**
 * In front of every POST: refuses a form sent from another site (Origin, Sec-Fetch-Site),
 * one without this session's CSRF token (compared in constant time), and any change from
 * a view-only session. Leaves the parsed form in `c.var.form`.
 */
export const guardWrites: MiddlewareHandler<PortalEnv> = async function guardWrites(c, next) {
  if (c.req.method !== "POST") return next();
  const session = sessionOf(c);
  if (isCrossSiteForm(c)) {
    return refuse(c, "This form came from another site", "For your safety, changes can only be made from these pages. Go back to your endpoints and try again.");
  }
  const form = await c.req.parseBody({ all: true });
  const token = field(form, "_csrf");
  if (!token || !(await constantTimeEqual(token, session.csrfToken))) {
    return refuse(c, "This form has expired", "The page you sent it from is out of date. Go back, reload the page and try again.");
  }
  if (session.readOnly && !READ_ONLY_POSTS.some((p) => p.test(c.req.path))) {
    return refuse(c, "View only", "This session can look at everything but not change anything. Ask someone who can make changes.");
  }
  c.set("form", form);
  await next();
};
