/**
 * @module The console's trust boundary: the portal's security headers, the signed session
 * cookie (the portal's cookie attributes), and the guard in front of every write (same
 * origin and the session's CSRF token, as the portal does).
 */
import type { MiddlewareHandler } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { getConfig } from "../config";
import { pipelineDeps } from "../core/deps";
import { constantTimeEqual } from "../domain/constant-time";
import { field } from "../portal/forms";
import { isCrossSiteForm, SESSION_COOKIE_ATTRIBUTES, setPageHeaders } from "../portal/guards";
import { MessagePage } from "../portal/pages/messages";
import { CONSOLE_BASE, href, hrefWith, type ConsoleContext, type ConsoleEnv } from "./context";
import { readConsoleSession, type ConsoleSession } from "./sessions";

export const CONSOLE_COOKIE = "switchyard_console";

/**
 * The portal's headers and CSP on every answer; the console is only ever framed by itself
 * (PORTAL_FRAME_ANCESTORS names the tenants' host apps, which must not frame the operators' screen).
 */
export const consoleHeaders: MiddlewareHandler<ConsoleEnv> = async function consoleHeaders(c, next) {
  c.set("deps", pipelineDeps(c.env));
  await next();
  setPageHeaders(c.res.headers, "'self'");
};

export function setConsoleCookie(c: ConsoleContext, value: string, session: ConsoleSession, now: number): void {
  setCookie(c, CONSOLE_COOKIE, value, { ...SESSION_COOKIE_ATTRIBUTES, path: CONSOLE_BASE, maxAge: Math.floor((session.expiresAt - now) / 1000) });
}

export function clearConsoleCookie(c: ConsoleContext): void {
  deleteCookie(c, CONSOLE_COOKIE, { ...SESSION_COOKIE_ATTRIBUTES, path: CONSOLE_BASE });
}

/** Only a console path may be where sign-in returns to (never another site). */
export function safeNext(next: string | undefined): string {
  if (!next || next.includes("\\") || next.startsWith(`${CONSOLE_BASE}//`)) return href();
  return next === CONSOLE_BASE || next.startsWith(`${CONSOLE_BASE}/`) || next.startsWith(`${CONSOLE_BASE}?`) ? next : href();
}

/**
 * Every page but sign-in and the assets needs a live session: a page asked for without one
 * goes to sign-in (and back afterwards); a form sent without one shows sign-in in place.
 */
export const requireConsoleSession: MiddlewareHandler<ConsoleEnv> = async function requireConsoleSession(c, next) {
  const cookie = getCookie(c, CONSOLE_COOKIE);
  const session = cookie ? await readConsoleSession(getConfig(c.env).adminToken, cookie, c.var.deps.now) : null;
  if (!session) {
    if (cookie) clearConsoleCookie(c);
    const url = new URL(c.req.url);
    const query = { next: c.req.method === "GET" ? url.pathname + url.search : undefined, ended: cookie ? "1" : undefined };
    return c.redirect(hrefWith(href("/sign-in"), query), 303);
  }
  c.set("session", session);
  await next();
};

function refuse(c: ConsoleContext, heading: string, text: string): Response | Promise<Response> {
  c.status(403);
  return c.render(
    <MessagePage heading={heading} back={{ to: href(), label: "Back to the overview" }}>
      <p>{text}</p>
    </MessagePage>,
    { title: heading },
  );
}

/**
 * In front of every POST after sign-in: refuses a form sent from another site and one
 * without this session's CSRF token (compared in constant time). Leaves the parsed form in
 * `c.var.form`.
 */
export const guardConsoleWrites: MiddlewareHandler<ConsoleEnv> = async function guardConsoleWrites(c, next) {
  if (c.req.method !== "POST") return next();
  const session = c.var.session;
  if (!session) throw new Error("console write reached without a session");
  if (isCrossSiteForm(c)) return refuse(c, "This form came from another site", "Changes can only be made from the console's own pages. Go back and try again.");
  const form = await c.req.parseBody({ all: true });
  const token = field(form, "_csrf");
  if (!token || !(await constantTimeEqual(token, session.csrfToken))) {
    return refuse(c, "This form has expired", "The page you sent it from is out of date, or your session was renewed since. Go back, reload the page and try again.");
  }
  c.set("form", form);
  await next();
};
