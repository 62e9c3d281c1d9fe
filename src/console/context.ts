/**
 * @module Request context of the operator console: the signed-in session, the core
 * dependencies, and the parsed form of a write.
 */
import type { Context } from "hono";
import type { Deps } from "../core/deps";
import type { FormBody } from "../portal/forms";
import type { ConsoleSession } from "./sessions";

export interface ConsoleVariables {
  /** Set by the session guard on every page but sign-in and the assets. */
  session: ConsoleSession | undefined;
  deps: Deps;
  /** The body of a POST, read once by the write guard. */
  form: FormBody;
}

export interface ConsoleEnv {
  Bindings: Env;
  Variables: ConsoleVariables;
}

export type ConsoleContext = Context<ConsoleEnv>;

/** Where the console is mounted; every link and form action starts with it. */
export const CONSOLE_BASE = "/console";

/**
 * An absolute console path: literal parts start with "/", ids are encoded;
 * `href("/tenants", id)` → "/console/tenants/acme", `href()` → "/console".
 */
export function href(...parts: string[]): string {
  return CONSOLE_BASE + parts.map((p) => (p.startsWith("/") ? p : `/${encodeURIComponent(p)}`)).join("");
}

/** A console path with a query; empty values are left out. */
export function hrefWith(path: string, query: Record<string, string | undefined>): string {
  const q = new URLSearchParams(Object.entries(query).filter((e): e is [string, string] => !!e[1]));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}
