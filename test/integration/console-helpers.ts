/**
 * @module Helpers of the console tests: signing in with the admin token. A signed-in
 * operator is the portal tests' browser-like client (it keeps the cookie and sends forms
 * with the page's CSRF token), holding the console's cookie instead.
 */
import { expect } from "vitest";
import { ADMIN_TOKEN } from "./helpers";
import { csrfOf, fetchPortal, ORIGIN, PortalClient, type PortalPage } from "./portal-helpers";

/** Sends the sign-in form as a same-origin browser would. */
export function signInWith(token: string, next = "", headers: Record<string, string> = {}): Promise<PortalPage> {
  return fetchPortal("/console/sign-in", {
    method: "POST",
    headers: { origin: ORIGIN, "content-type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams({ token, next }).toString(),
  });
}

/** The `name=value` part of a Set-Cookie header. */
export const cookiePair = (page: PortalPage): string => page.headers.get("set-cookie")!.split(";")[0]!;

/** Signs in with the admin token (or uses a cookie made elsewhere) and reads the CSRF token from the overview. */
export async function signInConsole(cookie?: string): Promise<PortalClient> {
  if (!cookie) {
    const res = await signInWith(ADMIN_TOKEN);
    expect(res.status, res.html).toBe(303);
    cookie = cookiePair(res);
  }
  const home = await fetchPortal("/console", { headers: { cookie } });
  expect(home.status, home.html).toBe(200);
  return new PortalClient(cookie, csrfOf(home.html));
}
