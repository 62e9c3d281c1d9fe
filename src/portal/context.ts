/**
 * @module Request context of the portal: the signed-in session, the core dependencies,
 * and the parsed form of a write.
 */
import type { Context } from "hono";
import type { Deps } from "../core/deps";
import type { FormBody } from "./forms";
import type { PortalSession } from "../core/portal-sessions";

export interface PortalVariables {
  /** Set by the session middleware on every page but the login link and the assets. */
  session: PortalSession | undefined;
  deps: Deps;
  /** The body of a POST, read once by the write guard. */
  form: FormBody;
}

export interface PortalEnv {
  Bindings: Env;
  Variables: PortalVariables;
}

export type PortalContext = Context<PortalEnv>;

import { PORTAL_BASE } from "../core/portal-sessions";
/** Where the portal is mounted; every link and form action starts with it. */
export { PORTAL_BASE };

/**
 * An absolute portal path: literal parts start with "/", ids are encoded;
 * `href("/endpoints", id)` → "/portal/endpoints/ep_…", `href()` → "/portal".
 */
export function href(...parts: string[]): string {
  return PORTAL_BASE + parts.map((p) => (p.startsWith("/") ? p : `/${encodeURIComponent(p)}`)).join("");
}

/** The signed-in session (the session middleware guarantees one on every page route). */
export function sessionOf(c: PortalContext): PortalSession {
  const session = c.var.session;
  if (!session) throw new Error("portal page reached without a session");
  return session;
}
