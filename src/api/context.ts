/**
 * @module Request context shared by the API routes: who is calling and what they may reach.
 */
import type { Context } from "hono";
import { getConfig } from "../config";
import { forbidden } from "../errors";
import { openDb } from "../db/client";
import type { Deps } from "../core/deps";

export type Principal = { kind: "admin" } | { kind: "tenant"; tenantId: string; keyId: string };

export interface AppEnv {
  Bindings: Env;
  Variables: { principal: Principal };
}

export type AppContext = Context<AppEnv>;

export type { Deps } from "../core/deps";

export function deps(c: AppContext): Deps {
  return { db: openDb(c.env.DB), env: c.env, config: getConfig(c.env), now: Date.now() };
}

/** Admin only (tenant keys get 403). */
export function requireAdmin(c: AppContext): void {
  if (c.var.principal.kind !== "admin") throw forbidden("This route needs the admin token.");
}

/**
 * A tenant-scoped route: the admin reaches any tenant, a tenant key only its own
 * (another tenant's id in the path is a 403). `adminOnly` refuses tenant keys.
 */
export function requireTenant(c: AppContext, tenantId: string, options: { adminOnly?: boolean } = {}): void {
  const p = c.var.principal;
  if (p.kind === "admin") return;
  if (options.adminOnly) throw forbidden("Tenant API keys may not do this.");
  if (p.tenantId !== tenantId) throw forbidden("This API key belongs to another tenant.");
}

/** The tenant a tenant key is bound to, or null for the admin. */
export function scopedTenant(c: AppContext): string | null {
  const p = c.var.principal;
  return p.kind === "tenant" ? p.tenantId : null;
}
