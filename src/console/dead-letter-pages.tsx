/**
 * @module The console's dead-letter routes: the filtered list, one dead letter, replay (one,
 * or every match, through the same verbs as `/v1/dead-letters`) and delete.
 */
import type { Hono } from "hono";
import { deleteDeadLetter, getDeadLetter, listDeadLetters, replayDeadLetter, replayDeadLetters, type Scope } from "../core/dead-letters";
import { parseSeqId, seqId } from "../domain/ids";
import { field, localDateTime } from "../portal/forms";
import { href, type ConsoleEnv } from "./context";
import { safeNext } from "./guards";
import { DeadLetterPage, DeadLettersPage, DeleteDeadLetterPage, type DeadLetterFilterValues } from "./pages/dead-letters";

const PER_PAGE = 50;
/** The operator sees every tenant's dead letters. */
const ADMIN: Scope = { tenantId: null };

const NOTICES: Record<string, string> = {
  replayed: "Replay started: the delivery is being retried, and its dead letter was removed.",
  deleted: "Dead letter deleted. Its delivery stays failed in the tenant's log.",
};

/** `back` with a `done` flag for the notice it shows (the list reads `done`, and so does a dead letter's page). */
const withDone = (back: string, done: string) => `${back}${back.includes("?") ? "&" : "?"}done=${done}`;

export function registerDeadLetterPages(app: Hono<ConsoleEnv>): void {
  app.get("/dead-letters", async (c) => {
    const q = (name: string) => (c.req.query(name) ?? "").trim();
    const filters: DeadLetterFilterValues = { tenant: q("tenant"), endpoint: q("endpoint"), since: q("since"), sinceTz: q("since_tz"), until: q("until"), untilTz: q("until_tz") };
    const since = filters.since ? localDateTime(filters.since, filters.sinceTz) : undefined;
    const until = filters.until ? localDateTime(filters.until, filters.untilTz) : undefined;
    const problem = since === null || until === null ? "A date and time could not be read; that filter is left out." : null;
    const before = c.req.query("before");
    const beforeSeq = before ? (parseSeqId("dl", before) ?? undefined) : undefined;
    const resolved = {
      tenantId: filters.tenant || undefined,
      endpointId: filters.endpoint || undefined,
      since: since ?? undefined,
      until: until ?? undefined,
    };
    const rows = await listDeadLetters(c.var.deps, ADMIN, { ...resolved, beforeSeq, limit: PER_PAGE });
    const shown = rows.slice(0, PER_PAGE);
    const url = new URL(c.req.url);
    url.searchParams.delete("done");
    const done = c.req.query("done");
    const notice = done === "bulk" ? `Replay of ${Number(c.req.query("count") ?? 0)} dead letters started; each leaves this list as its delivery is retried.` : (NOTICES[done ?? ""] ?? null);
    return c.render(
      <DeadLettersPage
        rows={shown}
        filters={filters}
        resolved={resolved}
        nextBefore={rows.length > PER_PAGE ? seqId("dl", shown[shown.length - 1]!.seq) : null}
        onFirstPage={beforeSeq === undefined}
        back={url.pathname + url.search}
        notice={notice}
        problem={problem}
      />,
      { title: "Dead letters" },
    );
  });

  app.get("/dead-letters/:id", async (c) => {
    const row = await getDeadLetter(c.var.deps, ADMIN, c.req.param("id"));
    return c.render(<DeadLetterPage row={row} notice={null} />, { title: `Dead letter ${c.req.param("id")}` });
  });

  app.post("/dead-letters/replay", async (c) => {
    const form = c.var.form;
    const ms = (name: string) => (/^\d{1,16}$/.test(field(form, name)) ? Number(field(form, name)) : undefined);
    const count = await replayDeadLetters(c.var.deps, ADMIN, {
      tenantId: field(form, "tenant") || undefined,
      endpointId: field(form, "endpoint") || undefined,
      since: ms("since_ms"),
      until: ms("until_ms"),
    });
    return c.redirect(`${withDone(safeNext(field(c.var.form, "back")), "bulk")}&count=${count}`, 303);
  });

  app.post("/dead-letters/:id/replay", async (c) => {
    await replayDeadLetter(c.var.deps, ADMIN, c.req.param("id"));
    return c.redirect(withDone(safeNext(field(c.var.form, "back")), "replayed"), 303);
  });

  app.get("/dead-letters/:id/delete", async (c) => {
    const row = await getDeadLetter(c.var.deps, ADMIN, c.req.param("id"));
    const back = safeNext(c.req.query("back") ?? href("/dead-letters"));
    return c.render(<DeleteDeadLetterPage row={row} back={back} />, { title: "Delete dead letter" });
  });

  app.post("/dead-letters/:id/delete", async (c) => {
    await deleteDeadLetter(c.var.deps, ADMIN, c.req.param("id"));
    return c.redirect(withDone(safeNext(field(c.var.form, "back")), "deleted"), 303);
  });
}
