/**
 * @module The endpoint pages' routes: list, add, edit, status, delete, secret, test send,
 * log and replay. Each reads and writes through the same core verbs as the API, always
 * with the session's own tenant, so an id edited in a URL or form can only reach a 404.
 */
import type { Hono } from "hono";
import { decodeCursor, encodeCursor, page } from "../api/schemas";
import * as deliveries from "../core/deliveries";
import * as endpoints from "../core/endpoints";
import { endpointHourly, endpointStats, sendTestEvent } from "../core/endpoint-tools";
import { isReservedType, listEventTypes } from "../core/event-types";
import { OPERATOR_TENANT } from "../core/tenants";
import type { Deps } from "../core/deps";
import type { EventTypeRow } from "../db/queries/event-types";
import type { DeliveryStatus } from "../db/schema";
import { HOUR_MS, hourlySeries, parseChartRange, rangeHours } from "../domain/hourly-series";
import { AppError, type FieldError } from "../errors";
import { href, sessionOf, type PortalContext, type PortalEnv } from "./context";
import { EMPTY_ENDPOINT_FORM, endpointFormValues, endpointInput, field, formFieldOf, localDateTime, readEndpointForm, type EndpointFormValues } from "./forms";
import { EndpointPage, type EndpointPageProps, type LogFilterValues } from "./pages/endpoint";
import { EndpointFormPage } from "./pages/endpoint-form";
import { EndpointsPage } from "./pages/endpoints";
import { ConfirmPage } from "./pages/messages";

const ENDPOINTS_PAGE_SIZE = 25;
const LOG_PAGE_SIZE = 25;
const CATALOG_PAGE = 250;

/** Short notices after a redirect, by code (the query never carries text to show). */
const NOTICES: Record<string, string> = {
  created: "Endpoint added. Send it a test event below to check that it works.",
  saved: "Changes saved.",
  paused: "Endpoint paused. Nothing is sent until you resume it.",
  resumed: "Endpoint active again. Deliveries that were waiting are on their way.",
  deleted: "Endpoint deleted.",
};

function noticeOf(c: PortalContext): string | null {
  const done = c.req.query("done");
  if (done === "replayed") {
    const n = Number(c.req.query("count"));
    if (!Number.isSafeInteger(n) || n < 0) return null;
    return n === 0 ? "There were no failed deliveries in that period." : `${n} failed ${n === 1 ? "delivery is" : "deliveries are"} being sent again, oldest first.`;
  }
  return done ? (NOTICES[done] ?? null) : null;
}

/** The catalog this tenant can subscribe to: live event types, `switchyard.*` only for `_operator`. */
export async function catalogFor(deps: Deps, tenantId: string): Promise<EventTypeRow[]> {
  const out: EventTypeRow[] = [];
  let after: string | undefined;
  for (;;) {
    const rows = await listEventTypes(deps, { includeArchived: false, after, limit: CATALOG_PAGE });
    out.push(...rows.slice(0, CATALOG_PAGE));
    if (rows.length <= CATALOG_PAGE) break;
    after = rows[CATALOG_PAGE - 1]!.name;
  }
  return tenantId === OPERATOR_TENANT ? out : out.filter((t) => !isReservedType(t.name));
}

/** A core error as form messages: field errors keep their place, anything else is the summary. */
function formErrors(err: unknown): { errors: FieldError[]; detail?: string } {
  if (!(err instanceof AppError) || err.status >= 500 || err.status === 404 || err.status === 403) throw err;
  const errors = (err.options.errors ?? []).map((e) => ({ path: formFieldOf(e.path), message: friendlyMessage(e) }));
  return { errors, detail: errors.length ? undefined : err.detail };
}

const FIELD_NAMES: Record<string, string> = {
  url: "URL",
  events: "Events",
  headers: "Custom headers",
  signature: "Signature",
  secret: "Secret",
  type: "Event type",
  data: "Data",
  auth: "Sign-in",
  circuit: "Circuit breaker",
  circuit_open_after: "Circuit breaker",
  circuit_cool_off_s: "Circuit breaker",
};

/** "url: must be https" → "URL: must be https". */
function friendlyMessage(e: FieldError): string {
  const name = FIELD_NAMES[formFieldOf(e.path)];
  const where = e.path.startsWith("headers.") ? `Header ${e.path.slice("headers.".length)}` : name;
  return where ? `${where}: ${e.message}` : e.message;
}

const LOG_STATUSES: readonly DeliveryStatus[] = ["pending", "delivered", "failed"];

/** Everything the endpoint page shows; the log follows the query's filters and cursor. */
async function endpointPage(c: PortalContext, endpointId: string, extra: Partial<EndpointPageProps>): Promise<EndpointPageProps> {
  const { tenantId, readOnly } = sessionOf(c);
  const deps = c.var.deps;
  const endpoint = await endpoints.getEndpoint(deps, tenantId, endpointId);
  const q = (name: string) => c.req.query(name) ?? "";
  const filters: LogFilterValues = { status: q("status"), type: q("type"), since: q("since"), sinceTz: q("since_tz"), until: q("until"), untilTz: q("until_tz") };
  let problem: string | null = null;
  let before: number | undefined;
  const cursor = q("cursor");
  if (cursor) {
    try {
      before = decodeCursor<number>(cursor, "number");
    } catch {
      problem = "That page link no longer works; showing the newest deliveries.";
    }
  }
  const since = filters.since ? localDateTime(filters.since, filters.sinceTz) : undefined;
  const until = filters.until ? localDateTime(filters.until, filters.untilTz) : undefined;
  if (since === null || until === null) problem = "A date could not be read; it was left out of the filter.";
  const status = LOG_STATUSES.find((s) => s === filters.status);
  // The figures and the charts cover the same whole hours, so their totals agree.
  const range = parseChartRange(c.req.query("range"));
  const hours = rangeHours(range, deps.now);
  const window = { since: hours.fromHour * HOUR_MS, until: hours.toHour * HOUR_MS };
  const [rows, stats, hourly, catalog] = await Promise.all([
    deliveries.listDeliveries(deps, tenantId, endpointId, {
      status,
      type: filters.type || undefined,
      since: since ?? undefined,
      until: until ?? undefined,
      before,
      limit: LOG_PAGE_SIZE,
    }),
    endpointStats(deps, tenantId, endpointId, window),
    endpointHourly(deps, tenantId, endpointId, window),
    catalogFor(deps, tenantId),
  ]);

  return {
    endpoint,
    readOnly,
    now: deps.now,
    catalog,
    stats,
    activity: { range, series: hourlySeries(hourly, hours.fromHour, hours.toHour, hours.bucketHours) },
    log: { items: rows.items, nextCursor: rows.next === null ? null : encodeCursor(rows.next), filters, paged: before !== undefined, problem },
    notice: noticeOf(c),
    ...extra,
  };
}

async function showEndpoint(c: PortalContext, endpointId: string, extra: Partial<EndpointPageProps> = {}, status: 200 | 409 | 422 = 200) {
  const props = await endpointPage(c, endpointId, extra);
  c.status(status);
  return c.render(<EndpointPage {...props} />, { title: props.endpoint.url, nav: "endpoints" });
}

async function showForm(
  c: PortalContext,
  opts: { mode: "create" | "edit"; endpointId?: string; values: EndpointFormValues; errors?: FieldError[]; detail?: string; storedAuth?: "bearer" | "basic" | null },
  status: 200 | 422 = 200,
) {
  const catalog = await catalogFor(c.var.deps, sessionOf(c).tenantId);
  // Credentials typed into a refused form are not echoed back into the page.
  const values = { ...opts.values, authToken: "", authPassword: "" };
  c.status(status);
  return c.render(<EndpointFormPage mode={opts.mode} endpointId={opts.endpointId} values={values} catalog={catalog} errors={opts.errors ?? []} detail={opts.detail} storedAuth={opts.storedAuth} />, {
    title: opts.mode === "create" ? "Add an endpoint" : "Edit endpoint",
    nav: "endpoints",
  });
}

const REPLAY_WINDOWS: Record<string, number> = { "1h": HOUR_MS, "24h": 24 * HOUR_MS, "7d": 7 * 24 * HOUR_MS, "30d": 30 * 24 * HOUR_MS };
const GRACE_SECONDS: Record<string, number> = { "0": 0, "1h": 3600, "24h": 86_400, "7d": 7 * 86_400 };

const RotateFields = ({ errors }: { errors: FieldError[] }) => (
  <>
    <div class="row">
      <label for="rotate-grace">Keep the old secret working for</label>
      <select id="rotate-grace" name="grace">
        <option value="0">No time: stop it now</option>
        <option value="1h">1 hour</option>
        <option value="24h" selected>
          24 hours
        </option>
        <option value="7d">7 days</option>
      </select>
    </div>
    <div class="row">
      <label for="rotate-secret">New secret</label>
      <span class="hint" id="rotate-secret-hint">
        Optional. Leave empty and we make a strong one for you.
      </span>
      <input id="rotate-secret" name="secret" type="text" autocomplete="off" aria-describedby="rotate-secret-hint" />
      {errors.length > 0 && (
        <p class="field-error" role="alert">
          {errors.map((e) => e.message).join(" ")}
        </p>
      )}
    </div>
  </>
);

function rotatePage(c: PortalContext, endpointId: string, url: string, errors: FieldError[] = []) {
  return c.render(
    <ConfirmPage heading="Rotate the signing secret?" action={href("/endpoints", endpointId, "/rotate")} confirmLabel="Rotate secret" cancelTo={href("/endpoints", endpointId)} fields={<RotateFields errors={errors} />}>
      <p class="wrap">
        A new secret will sign every webhook to <strong>{url}</strong>. Update your system with it. With the Standard Webhooks signature the old secret keeps working for the time you choose; the hex
        signatures switch to the new secret at once.
      </p>
    </ConfirmPage>,
    { title: "Rotate the signing secret", nav: "endpoints" },
  );
}

export function registerEndpointPages(portal: Hono<PortalEnv>): void {
  portal.get("/", async (c) => {
    const { tenantId, readOnly } = sessionOf(c);
    const deps = c.var.deps;
    const cursor = c.req.query("cursor");
    let before: string | undefined;
    try {
      before = decodeCursor<string>(cursor, "string");
    } catch {
      before = undefined;
    }
    const rows = await endpoints.listEndpoints(deps, tenantId, { before, limit: ENDPOINTS_PAGE_SIZE });
    const p = page(rows, ENDPOINTS_PAGE_SIZE, (e) => e.id);
    const withRates = await Promise.all(p.data.map(async (row) => ({ row, successRate: (await endpointStats(deps, tenantId, row.id, {})).successRate })));
    return c.render(<EndpointsPage endpoints={withRates} nextCursor={p.next_cursor} firstPage={before === undefined} readOnly={readOnly} notice={noticeOf(c)} now={deps.now} />, {
      title: "Endpoints",
      nav: "endpoints",
    });
  });

  portal.get("/endpoints/new", (c) => showForm(c, { mode: "create", values: EMPTY_ENDPOINT_FORM }));

  portal.post("/endpoints", async (c) => {
    const values = readEndpointForm(c.var.form);
    const { input, errors } = endpointInput(values);
    if (errors.length) return showForm(c, { mode: "create", values, errors }, 422);
    try {
      const { row } = await endpoints.createEndpoint(c.var.deps, sessionOf(c).tenantId, input);
      return c.redirect(`${href("/endpoints", row.id)}?done=created`, 303);
    } catch (err) {
      return showForm(c, { mode: "create", values, ...formErrors(err) }, 422);
    }
  });

  portal.get("/endpoints/:id", (c) => showEndpoint(c, c.req.param("id")));

  portal.get("/endpoints/:id/edit", async (c) => {
    const row = await endpoints.getEndpoint(c.var.deps, sessionOf(c).tenantId, c.req.param("id"));
    const catalog = new Set((await catalogFor(c.var.deps, row.tenantId)).map((t) => t.name));
    return showForm(c, { mode: "edit", endpointId: row.id, values: endpointFormValues(row, catalog), storedAuth: row.authType });
  });

  portal.post("/endpoints/:id", async (c) => {
    const id = c.req.param("id");
    const deps = c.var.deps;
    const tenantId = sessionOf(c).tenantId;
    const current = await endpoints.getEndpoint(deps, tenantId, id);
    const values = readEndpointForm(c.var.form);
    if (values.authType === "keep" && current.authType === null) values.authType = "";
    const { input, errors } = endpointInput(values);
    const form = { mode: "edit" as const, endpointId: id, values, storedAuth: current.authType };
    if (errors.length) return showForm(c, { ...form, errors }, 422);
    try {
      await endpoints.updateEndpoint(deps, tenantId, id, input);
    } catch (err) {
      return showForm(c, { ...form, ...formErrors(err) }, 422);
    }
    return c.redirect(`${href("/endpoints", id)}?done=saved`, 303);
  });

  portal.post("/endpoints/:id/status", async (c) => {
    const id = c.req.param("id");
    const deps = c.var.deps;
    const status = field(c.var.form, "status") === "paused" ? "paused" : "active";
    await endpoints.updateEndpoint(deps, sessionOf(c).tenantId, id, { status });
    return c.redirect(`${href("/endpoints", id)}?done=${status === "paused" ? "paused" : "resumed"}`, 303);
  });

  portal.get("/endpoints/:id/delete", async (c) => {
    const row = await endpoints.getEndpoint(c.var.deps, sessionOf(c).tenantId, c.req.param("id"));
    return c.render(
      <ConfirmPage heading="Delete this endpoint?" action={href("/endpoints", row.id, "/delete")} confirmLabel="Delete endpoint" cancelTo={href("/endpoints", row.id)}>
        <p class="wrap">
          <strong>{row.url}</strong> will stop receiving webhooks at once. Deliveries still waiting are cancelled and its delivery log is removed. This cannot be undone.
        </p>
      </ConfirmPage>,
      { title: "Delete endpoint", nav: "endpoints" },
    );
  });

  portal.post("/endpoints/:id/delete", async (c) => {
    await endpoints.deleteEndpoint(c.var.deps, sessionOf(c).tenantId, c.req.param("id"));
    return c.redirect(`${href()}?done=deleted`, 303);
  });

  // A POST, so the secret reaches a page only when asked for, and never a cached GET.
  portal.post("/endpoints/:id/secret", async (c) => {
    const id = c.req.param("id");
    const secrets = await endpoints.getSecrets(c.var.deps, sessionOf(c).tenantId, id);
    return showEndpoint(c, id, { secrets });
  });

  portal.get("/endpoints/:id/rotate", async (c) => {
    const row = await endpoints.getEndpoint(c.var.deps, sessionOf(c).tenantId, c.req.param("id"));
    return rotatePage(c, row.id, row.url);
  });

  portal.post("/endpoints/:id/rotate", async (c) => {
    const id = c.req.param("id");
    const tenantId = sessionOf(c).tenantId;
    const secret = field(c.var.form, "secret").trim();
    const grace = GRACE_SECONDS[field(c.var.form, "grace")] ?? 86_400;
    try {
      const secrets = await endpoints.rotateSecret(c.var.deps, tenantId, id, { ...(secret ? { secret } : {}), grace_seconds: grace });
      return showEndpoint(c, id, { secrets, notice: "New secret made. Update your system with it; it is shown below." });
    } catch (err) {
      const { errors, detail } = formErrors(err);
      const row = await endpoints.getEndpoint(c.var.deps, tenantId, id);
      c.status(422);
      return rotatePage(c, id, row.url, detail ? [{ path: "secret", message: detail }, ...errors] : errors);
    }
  });

  portal.post("/endpoints/:id/test", async (c) => {
    const id = c.req.param("id");
    const deps = c.var.deps;
    const type = field(c.var.form, "type");
    const dataText = field(c.var.form, "data");
    let data: unknown;
    if (dataText.trim()) {
      try {
        data = JSON.parse(dataText);
      } catch {
        return showEndpoint(c, id, { test: { type, data: dataText, errors: [{ path: "data", message: "Data: this is not valid JSON." }] } }, 422);
      }
    }
    try {
      const r = await sendTestEvent(deps, sessionOf(c).tenantId, id, { type, ...(data === undefined ? {} : { data }) }, { text: dataText.trim() || "null", root: "data" });
      const result = { type, deliveryId: r.deliveryId, responseStatus: r.responseStatus, durationMs: r.durationMs, error: r.error, responseBody: r.responseBody, at: deps.now };
      return showEndpoint(c, id, { test: { result, type, data: dataText, errors: [] } });
    } catch (err) {
      const { errors, detail } = formErrors(err);
      return showEndpoint(c, id, { test: { type, data: dataText, errors: errors.map((e) => ({ ...e, path: e.path === "type" ? "type" : "data" })), detail } }, 422);
    }
  });

  portal.post("/endpoints/:id/replay", async (c) => {
    const id = c.req.param("id");
    const deps = c.var.deps;
    const form = c.var.form;
    const window = field(form, "window");
    const custom = field(form, "since");
    // A date typed in wins over the choice of period.
    const since = custom ? localDateTime(custom, field(form, "since_tz")) : deps.now - (REPLAY_WINDOWS[window] ?? 24 * HOUR_MS);
    if (since === null) return showEndpoint(c, id, { replay: { errors: [{ path: "since", message: "The date and time could not be read; pick them again." }] } }, 422);
    try {
      const count = await deliveries.replayEndpoint(deps, sessionOf(c).tenantId, id, { since, status: "failed" });
      return c.redirect(`${href("/endpoints", id)}?done=replayed&count=${count}#log`, 303);
    } catch (err) {
      if (!(err instanceof AppError) || err.status !== 409) throw err;
      return showEndpoint(c, id, { replay: { errors: [], detail: "The endpoint is disabled. Re-enable it above first, then replay." } }, 409);
    }
  });
}
