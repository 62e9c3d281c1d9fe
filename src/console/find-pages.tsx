/**
 * @module The console's "Find by id" route: what the id names is shown here, or, for a
 * tenant or a dead letter, its own page.
 */
import type { Hono } from "hono";
import { findById } from "../core/cross-tenant";
import { seqId } from "../domain/ids";
import { href, type ConsoleEnv } from "./context";
import { FindPage } from "./pages/find";

/** Longer than any id Switchyard makes or accepts; anything longer names nothing. */
const MAX_ID = 200;

export function registerFindPages(app: Hono<ConsoleEnv>): void {
  app.get("/find", async (c) => {
    const deps = c.var.deps;
    const q = (c.req.query("q") ?? "").trim().slice(0, MAX_ID);
    const tenant = (c.req.query("tenant") ?? "").trim().slice(0, MAX_ID);
    const found = q ? await findById(deps, q, tenant || undefined) : null;
    if (found?.kind === "tenant") return c.redirect(href("/tenants", found.tenant.id), 303);
    if (found?.kind === "dead-letter") return c.redirect(href("/dead-letters", seqId("dl", found.deadLetter.seq)), 303);
    if (found?.kind === "none") c.status(404);
    return c.render(<FindPage q={q} tenant={tenant} found={found} now={deps.now} />, { title: q ? `Find ${q}` : "Find by id" });
  });
}
