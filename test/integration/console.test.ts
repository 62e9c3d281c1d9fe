/**
 * The operator console (DESIGN.md "Operator console", docs/console.md) through the Worker's
 * fetch handler: signing in with the admin token, the session cookie and its refusals, CSRF
 * on every write, and each page against real data — tenants and their figures from
 * `tenant_hours`, failing / open-circuit / disabled endpoints made by the delivery consumer
 * and the API, dead letters replayed and deleted, finding a delivery from its id, and a
 * portal magic link that opens the portal.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, inject, it, vi } from "vitest";
import { startConsoleSession } from "../../src/console/sessions";
import { openDb } from "../../src/db/client";
import { attentionQueries } from "../../src/db/queries/endpoints";
import { writeTenantHours } from "../../src/db/queries/tenant-hours";
import { HOUR_MS } from "../../src/domain/hourly-series";
import { latencyBucket, emptyHistogram } from "../../src/domain/latency-histogram";
import { cookiePair, signInConsole, signInWith } from "./console-helpers";
import { runLogAlarm, settleTenant, tenantLogOf, tenantSeqOf } from "./hardening-helpers";
import { ADMIN_TOKEN, api, createEndpoint, createEventType, createTenant, postEvent, uniqueTypeName, waitFor } from "./helpers";
import { fetchPortal, ORIGIN, PORTAL_CSP, PortalClient, textOf } from "./portal-helpers";

vi.setConfig({ testTimeout: 60_000 });

const receiver = inject("receiverUrl");
const CONSOLE_CSP = PORTAL_CSP; // the portal's policy; frame-ancestors is 'self' for both here

/** What one world of tenants, endpoints and deliveries looks like once settled. */
interface World {
  type: string;
  acme: string;
  beta: string;
  quiet: string;
  okEndpoint: string;
  failingEndpoint: string;
  disabledEndpoint: string;
  circuitEndpoint: string;
  /** A delivery that failed for good (410) and left a dead letter. */
  failedDelivery: string;
  deliveredDelivery: string;
  eventId: string;
}

let w: World;
let client: PortalClient;

beforeAll(async () => {
  const type = await createEventType(uniqueTypeName("console"));
  const acme = await createTenant({ name: "Acme <b>Fleet</b>" });
  const beta = await createTenant({ name: "Beta Logistics" });
  const quiet = await createTenant({ name: "Quiet Co" });
  const ok = await createEndpoint(acme, { url: `${receiver}/ok/console-${acme}`, description: "fleet system" });
  const failing = await createEndpoint(acme, { url: `${receiver}/status/410/console-${acme}`, retry_schedule: [] });
  // Failing for six days already: its next failed attempt makes the consumer disable it (AUTO_DISABLE_AFTER_S is 5 days).
  const disabled = await createEndpoint(beta, { url: `${receiver}/status/500/console-disabled-${beta}`, retry_schedule: [] });
  await env.DB.prepare("UPDATE endpoints SET failing_since = ? WHERE id = ?").bind(Date.now() - 6 * 86_400_000, disabled.id).run();
  // The receiver resets the connection: a connection failure, and a one-failure circuit opens.
  const circuit = await createEndpoint(beta, { url: `${receiver}/reset/5/console-circuit-${beta}`, retry_schedule: [], circuit: { enabled: true, open_after: 1, cool_off_s: 3600 } });

  const ev = await postEvent(acme, { type, data: { vehicle: "veh_1", note: "<script>alert(1)</script>" } });
  await postEvent(beta, { type, data: { parcel: "p_1" } });
  await settleTenant(acme);
  await settleTenant(beta);
  await waitFor(async () => (await api(`/v1/tenants/${beta}/endpoints/${disabled.id}`)).body.status === "disabled", "the consumer to disable the endpoint", 20_000);
  const deliveries = (await api(`/v1/tenants/${acme}/events/${ev.id}`)).body.deliveries as { delivery_id: string; endpoint_id: string }[];
  w = {
    type,
    acme,
    beta,
    quiet,
    okEndpoint: ok.id,
    failingEndpoint: failing.id,
    disabledEndpoint: disabled.id,
    circuitEndpoint: circuit.id,
    failedDelivery: deliveries.find((d) => d.endpoint_id === failing.id)!.delivery_id,
    deliveredDelivery: deliveries.find((d) => d.endpoint_id === ok.id)!.delivery_id,
    eventId: ev.id,
  };
  client = await signInConsole();
});

describe("signing in", () => {
  it("a page asked for without a session goes to sign-in, and back there afterwards", async () => {
    const res = await fetchPortal("/console/dead-letters?tenant=x");
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe(`/console/sign-in?next=${encodeURIComponent("/console/dead-letters?tenant=x")}`);
    const form = await fetchPortal(res.headers.get("location")!);
    expect(form.status).toBe(200);
    expect(form.html).toContain('type="password"');
    expect(form.html).toContain('value="/console/dead-letters?tenant=x"');
    const signed = await signInWith(ADMIN_TOKEN, "/console/dead-letters?tenant=x");
    expect(signed.status).toBe(303);
    expect(signed.headers.get("location")).toBe("/console/dead-letters?tenant=x");
  });

  it("the right token sets an HttpOnly, Secure, SameSite=None, Partitioned cookie on /console for 12 hours", async () => {
    const res = await signInWith(ADMIN_TOKEN);
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/console");
    const attrs = res.headers.get("set-cookie")!.split(";").map((s) => s.trim());
    expect(attrs[0]).toMatch(/^switchyard_console=\d+\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
    expect(attrs).toEqual(expect.arrayContaining(["HttpOnly", "Secure", "SameSite=None", "Partitioned", "Path=/console", "Max-Age=43200"]));
    expect(res.headers.get("set-cookie")).not.toContain(ADMIN_TOKEN);
  });

  it.each([
    ["a wrong token", "not-the-admin-token"],
    ["the admin token with one more character", `${ADMIN_TOKEN}x`],
    ["an empty token", ""],
  ])("%s gets the same sign-in page with one sentence and no cookie", async (_, token) => {
    const res = await signInWith(token, "/console/find");
    expect(res.status).toBe(401);
    expect(res.headers.get("set-cookie")).toBeNull();
    const text = textOf(res.html);
    expect(text).toContain("That token was not accepted.");
    expect(text).not.toMatch(/length|too short|characters|expired|unknown/i);
    expect(res.html).toContain('value="/console/find"');
  });

  it("a sign-in form posted from another site is refused", async () => {
    const res = await signInWith(ADMIN_TOKEN, "", { origin: "https://evil.example" });
    expect(res.status).toBe(403);
    expect(res.headers.get("set-cookie")).toBeNull();
  });

  it("never sends the browser to another site after sign-in", async () => {
    for (const next of ["https://evil.example/", "//evil.example/console", "/console//evil.example", "/portal", "/console\\@evil.example"]) {
      const res = await signInWith(ADMIN_TOKEN, next);
      expect(res.headers.get("location"), next).toBe("/console");
    }
    expect((await signInWith(ADMIN_TOKEN, "/console?range=7d")).headers.get("location")).toBe("/console?range=7d");
  });

  it("every console answer carries the portal's CSP and is never cached", async () => {
    for (const path of ["/console/sign-in", "/console", "/console/find"]) {
      const res = await client.get(path);
      expect(res.headers.get("content-security-policy"), path).toBe(CONSOLE_CSP);
      expect(res.headers.get("cache-control"), path).toBe("no-store");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    }
    const css = await fetchPortal("/console/assets/console.css");
    expect(css.status).toBe(200);
    expect(css.headers.get("content-type")).toContain("text/css");
  });
});

describe("the session", () => {
  const refused = async (cookie: string) => {
    const res = await fetchPortal("/console", { headers: { cookie } });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/console/sign-in?next=%2Fconsole&ended=1");
    // The refused cookie is cleared.
    expect(res.headers.get("set-cookie")).toMatch(/^switchyard_console=;.*Max-Age=0/);
  };

  it("a valid cookie opens the overview", async () => {
    expect((await client.get("/console")).status).toBe(200);
  });

  it("an expired session is refused (12 hours after sign-in)", async () => {
    const { cookie } = await startConsoleSession(ADMIN_TOKEN, Date.now() - 12 * HOUR_MS - 1000);
    await refused(`switchyard_console=${cookie}`);
  });

  it("a forged or altered cookie is refused", async () => {
    const [expiry, nonce, mac] = client.cookie.split("=")[1]!.split(".");
    // A later expiry with the old signature, another nonce, a flipped signature, garbage.
    await refused(`switchyard_console=${Number(expiry) + 1000}.${nonce}.${mac}`);
    await refused(`switchyard_console=${expiry}.${"A".repeat(22)}.${mac}`);
    await refused(`switchyard_console=${expiry}.${nonce}.${mac!.startsWith("A") ? "B" : "A"}${mac!.slice(1)}`);
    await refused("switchyard_console=admin");
  });

  it("a session signed under an earlier ADMIN_TOKEN is refused: rotating the token signs everyone out", async () => {
    const { cookie } = await startConsoleSession("the-previous-admin-token", Date.now());
    await refused(`switchyard_console=${cookie}`);
  });

  it("signing out clears the cookie", async () => {
    const mine = await signInConsole(cookiePair(await signInWith(ADMIN_TOKEN)));
    const res = await mine.post("/console/sign-out");
    expect(res.status).toBe(200);
    expect(textOf(res.html)).toContain("You are signed out.");
    expect(res.headers.get("set-cookie")).toMatch(/^switchyard_console=;.*Max-Age=0/);
  });
});

describe("CSRF", () => {
  const action = () => `/console/tenants/${w.quiet}/portal-link`;

  it("refuses a write without the session's CSRF token, with another session's, or from another site", async () => {
    const other = await signInConsole(cookiePair(await signInWith(ADMIN_TOKEN)));
    expect(other.csrf).not.toBe(client.csrf);
    const cases: [string, Promise<{ status: number; html: string }>][] = [
      ["none", client.post(action(), {}, { csrf: null })],
      ["wrong", client.post(action(), {}, { csrf: "x".repeat(43) })],
      ["another session's", client.post(action(), {}, { csrf: other.csrf })],
      ["cross-site origin", client.post(action(), {}, { headers: { origin: "https://evil.example" } })],
      ["cross-site fetch", client.post(action(), {}, { headers: { origin: ORIGIN, "sec-fetch-site": "cross-site" } })],
    ];
    for (const [name, pending] of cases) {
      const res = await pending;
      expect(res.status, name).toBe(403);
      expect(res.html, name).not.toContain("/portal/login?token=");
    }
    const { results } = await env.DB.prepare("SELECT id FROM portal_sessions WHERE tenant_id = ?").bind(w.quiet).all();
    expect(results).toHaveLength(0);
  });

  it("every form on the console's pages carries the CSRF token", async () => {
    for (const path of ["/console", `/console/tenants/${w.acme}`, "/console/endpoints", "/console/dead-letters", `/console/find?q=${w.failedDelivery}`]) {
      const html = (await client.get(path)).html;
      const posts = html.match(/<form method="post"[^>]*>/g) ?? [];
      const csrf = html.match(/name="_csrf" value="[^"]+"/g) ?? [];
      expect(csrf.length, path).toBe(posts.length);
      expect(csrf.every((f) => f === `name="_csrf" value="${client.csrf}"`), path).toBe(true);
    }
  });
});

describe("the pages", () => {
  it("the overview lists each tenant with its last 24 hours from tenant_hours, and the sums across tenants", async () => {
    const seq = await tenantSeqOf(w.quiet);
    const hour = Math.floor(Date.now() / HOUR_MS);
    const latency = emptyHistogram();
    latency[latencyBucket(40)] = 90;
    latency[latencyBucket(900)] = 10;
    // Written the way a TenantLog's outbox writes them: two hours in the window, one a day old.
    await writeTenantHours(
      openDb(env.DB),
      seq,
      [
        { hour: hour - 1, created: 120, delivered: 110, failed: 8, latency },
        { hour, created: 40, delivered: 39, failed: 1, latency },
        { hour: hour - 30, created: 999, delivered: 0, failed: 999, latency },
      ],
      Date.now(),
    );
    const page = await client.get("/console");
    expect(page.status).toBe(200);
    const row = textOf(/<tr>(?:(?!<\/tr>).)*Quiet Co(?:(?!<\/tr>).)*<\/tr>/s.exec(page.html)![0]);
    // 160 created, 149 delivered, 9 failed: 149 / 158 = 94.3 %.
    expect(row).toMatch(/Quiet Co .*160 149 9 94\.3 %/);
    expect(page.html).toContain("Acme &lt;b&gt;Fleet&lt;/b&gt;");
    expect(page.html).not.toContain("<b>Fleet</b>");
    const { results } = await env.DB.prepare("SELECT SUM(created) AS c FROM tenant_hours WHERE hour >= ?").bind(hour - 23).all<{ c: number }>();
    expect(textOf(page.html)).toContain(`Deliveries, last 24 h ${results[0]!.c}`);
    // The charts draw the same figures: the 24 h deliveries chart sums to what tenant_hours holds.
    expect(page.html).toContain('aria-label="Deliveries, per hour');
  });

  it("a tenant's own page shows its figures, charts over 24 h and 7 days, and its endpoints", async () => {
    const day = await client.get(`/console/tenants/${w.quiet}`);
    expect(day.status).toBe(200);
    const text = textOf(day.html);
    expect(text).toContain("Deliveries, last 24 h 160");
    expect(text).toContain("Delivered: 149");
    expect(text).toContain("This tenant has no endpoints.");
    const week = await client.get(`/console/tenants/${w.quiet}?range=7d`);
    // The day-old hour is inside 7 days: 999 more failures.
    expect(textOf(week.html)).toContain("Failed (hatched): 1008");
    expect(week.html).toContain("per 6 hours");

    const acme = textOf((await client.get(`/console/tenants/${w.acme}`)).html);
    expect(acme).toContain(`${receiver}/ok/console-${w.acme}`);
    expect(acme).toContain("1 dead letter");
    expect((await client.get("/console/tenants/no-such-tenant")).status).toBe(404);
  });

  it("real deliveries reach the overview through the TenantLog's outbox", async () => {
    const seq = await tenantSeqOf(w.acme);
    const row = await waitFor(
      async () => {
        await runLogAlarm(await tenantLogOf(w.acme));
        return env.DB.prepare("SELECT SUM(created) AS created, SUM(delivered) AS delivered, SUM(failed) AS failed FROM tenant_hours WHERE tenant_seq = ?")
          .bind(seq)
          .first<{ created: number | null; delivered: number; failed: number }>()
          .then((r) => (r?.created ? r : null));
      },
      "acme's hour totals in D1",
      20_000,
    );
    // The log hands its totals over at most once a minute, so they may still lag the deliveries:
    // the page shows exactly what D1 holds.
    const text = textOf((await client.get(`/console/tenants/${w.acme}`)).html);
    expect(text).toContain(`Deliveries, last 24 h ${row.created} Delivered ${row.delivered} Failed ${row.failed}`);
  });

  it("the endpoints needing attention: failing, behind an open circuit, and disabled, each with its tenant and a portal link", async () => {
    const all = await client.get("/console/endpoints");
    expect(all.status).toBe(200);
    const rowOf = (html: string, id: string) => {
      const m = new RegExp(`<tr>(?:(?!</tr>).)*${id}(?:(?!</tr>).)*</tr>`, "s").exec(html);
      return m ? m[0] : null;
    };
    const failing = rowOf(all.html, w.failingEndpoint);
    expect(textOf(failing!)).toMatch(/Active Failing failing since/);
    expect(failing).toContain(`href="/console/tenants/${w.acme}"`);
    expect(failing).toContain(`action="/console/tenants/${w.acme}/portal-link"`);
    expect(textOf(rowOf(all.html, w.disabledEndpoint)!)).toContain("Disabled");
    expect(textOf(rowOf(all.html, w.circuitEndpoint)!)).toContain("Circuit open");
    expect(rowOf(all.html, w.okEndpoint)).toBeNull();

    const onlyDisabled = await client.get("/console/endpoints?state=disabled");
    expect(rowOf(onlyDisabled.html, w.disabledEndpoint)).not.toBeNull();
    expect(rowOf(onlyDisabled.html, w.failingEndpoint)).toBeNull();
    const onlyCircuit = await client.get("/console/endpoints?state=circuit");
    expect(rowOf(onlyCircuit.html, w.circuitEndpoint)).not.toBeNull();
    expect(rowOf(onlyCircuit.html, w.disabledEndpoint)).toBeNull();
  });

  it("those lists and counts read only the partial index endpoints_attention, never every endpoint row", async () => {
    const planOf = async (stmt: { sql: string; params: unknown[] }) =>
      (await env.DB.prepare(`EXPLAIN QUERY PLAN ${stmt.sql}`).bind(...stmt.params).all<{ detail: string }>()).results.map((r) => r.detail).join("; ");
    for (const f of [{ limit: 50 }, { state: "failing" as const, limit: 50 }, { state: "circuit" as const, beforeId: "ep_zzz", limit: 50 }]) {
      const q = attentionQueries(openDb(env.DB), f);
      expect(await planOf(q.list.toSQL())).toMatch(/^(SCAN|SEARCH) endpoints USING (COVERING )?INDEX endpoints_attention/);
      expect(await planOf(q.counts.toSQL())).toMatch(/^(SCAN|SEARCH) endpoints USING (COVERING )?INDEX endpoints_attention/);
    }
    // One tenant's list reads that tenant's endpoints only.
    const oneTenant = attentionQueries(openDb(env.DB), { state: "disabled", tenantId: w.acme, limit: 50 });
    expect(await planOf(oneTenant.list.toSQL())).toMatch(/^SEARCH endpoints USING INDEX endpoints_(tenant|attention)/);
  });

  it("finds a delivery from its dlv_ id alone: its tenant, endpoint, attempts and payload", async () => {
    const res = await client.get(`/console/find?q=${w.failedDelivery}`);
    expect(res.status).toBe(200);
    const text = textOf(res.html);
    expect(text).toContain(`Delivery ${w.failedDelivery}`);
    expect(text).toContain(`Tenant ${w.acme}`);
    expect(text).toContain(`${receiver}/status/410/console-${w.acme}`);
    expect(text).toContain("Attempt 1 410 Gone");
    expect(text).toContain("the receiver refused it; not retried");
    expect(res.html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(res.html).not.toContain("<script>alert(1)</script>");
  });

  it("finds an event, an endpoint, a tenant and a dead letter by id, and says plainly when nothing matches", async () => {
    const event = textOf((await client.get(`/console/find?q=${w.eventId}`)).html);
    expect(event).toContain(w.deliveredDelivery);
    expect(event).toContain(w.failedDelivery);
    expect(textOf((await client.get(`/console/find?q=${w.circuitEndpoint}`)).html)).toContain(`Tenant ${w.beta}`);
    const tenant = await client.get(`/console/find?q=${w.beta}`);
    expect(tenant.status).toBe(303);
    expect(tenant.headers.get("location")).toBe(`/console/tenants/${w.beta}`);
    const dl = (await api(`/v1/dead-letters?tenant_id=${w.acme}`)).body.data[0];
    const found = await client.get(`/console/find?q=${dl.id}`);
    expect(found.headers.get("location")).toBe(`/console/dead-letters/${dl.id}`);
    for (const q of ["dlv_00000000000000000000000000000000", "evt_nothing", "ep_nothing", "nobody-at-all"]) {
      const none = await client.get(`/console/find?q=${q}`);
      expect(none.status, q).toBe(404);
      expect(textOf(none.html), q).toContain("Nothing found");
    }
  });

  it("a portal magic link for any tenant: shown to copy, and it opens that tenant's portal", async () => {
    const res = await client.post(`/console/tenants/${w.beta}/portal-link`, { expires_in: "900", read_only: "1" });
    expect(res.status).toBe(200);
    const url = /<code id="portal-link">([^<]+)<\/code>/.exec(res.html)![1]!.replaceAll("&amp;", "&");
    expect(new URL(url).pathname).toBe("/portal/login");
    expect(textOf(res.html)).toContain("A view-only link that works once");
    const opened = await fetchPortal(url);
    expect(opened.status).toBe(303);
    const portal = await fetchPortal("/portal", { headers: { cookie: opened.headers.get("set-cookie")!.split(";")[0]! } });
    expect(portal.status).toBe(200);
    expect(textOf(portal.html)).toContain(`${receiver}/reset/5/console-circuit-${w.beta}`);
    expect(textOf(portal.html)).toContain("View only");
    expect((await fetchPortal(url)).status).toBe(410);

    const open = await client.post(`/console/tenants/${w.beta}/portal-link`, { open: "1" });
    expect(open.status).toBe(303);
    expect(new URL(open.headers.get("location")!).pathname).toBe("/portal/login");
  });
});

describe("dead letters", () => {
  it("lists every tenant's dead letters, filtered by tenant and endpoint", async () => {
    const all = textOf((await client.get("/console/dead-letters")).html);
    expect(all).toContain(w.failedDelivery);
    const ofBeta = await client.get(`/console/dead-letters?tenant=${w.beta}`);
    expect(textOf(ofBeta.html)).not.toContain(w.failedDelivery);
    expect(ofBeta.html).toContain(`href="/console/tenants/${w.beta}"`);
    const ofEndpoint = textOf((await client.get(`/console/dead-letters?endpoint=${w.failingEndpoint}`)).html);
    expect(ofEndpoint).toContain(w.failedDelivery);
    const future = new Date(Date.now() + 3600_000).toISOString().slice(0, 16);
    const none = textOf((await client.get(`/console/dead-letters?tenant=${w.acme}&since=${future}&since_tz=0`)).html);
    expect(none).toContain("No dead letters match.");
  });

  it("replaying one retries its delivery and removes its row", async () => {
    const [dl] = (await api(`/v1/dead-letters?tenant_id=${w.acme}`)).body.data as { id: string; delivery_id: string }[];
    const res = await client.post(`/console/dead-letters/${dl!.id}/replay`, { back: `/console/dead-letters?tenant=${w.acme}` });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe(`/console/dead-letters?tenant=${w.acme}&done=replayed`);
    expect((await api(`/v1/dead-letters/${dl!.id}`)).status).toBe(404);
    const list = textOf((await client.get(res.headers.get("location")!)).html);
    expect(list).toContain("Replay started");
    expect(list).not.toContain(dl!.delivery_id);
    // The delivery really was retried: its log shows a second attempt once it settles (410 again: a new dead letter).
    await settleTenant(w.acme);
    const detail = await api(`/v1/tenants/${w.acme}/deliveries/${dl!.delivery_id}`);
    expect(detail.body.attempts).toHaveLength(2);
  });

  it("replaying every match starts a bulk replay of the filter", async () => {
    const before = (await api(`/v1/dead-letters?tenant_id=${w.beta}`)).body.data as unknown[];
    expect(before.length).toBeGreaterThan(0);
    const res = await client.post("/console/dead-letters/replay", { tenant: w.beta, back: `/console/dead-letters?tenant=${w.beta}` });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe(`/console/dead-letters?tenant=${w.beta}&done=bulk&count=${before.length}`);
    expect(textOf((await client.get(res.headers.get("location")!)).html)).toContain(`Replay of ${before.length} dead letters started`);
  });

  it("deleting one asks first, then removes it", async () => {
    await waitFor(async () => ((await api(`/v1/dead-letters?tenant_id=${w.acme}`)).body.data as unknown[]).length > 0, "acme's new dead letter", 20_000);
    const [dl] = (await api(`/v1/dead-letters?tenant_id=${w.acme}`)).body.data as { id: string }[];
    const confirm = await client.get(`/console/dead-letters/${dl!.id}/delete`);
    expect(confirm.status).toBe(200);
    expect(textOf(confirm.html)).toContain(`Delete dead letter ${dl!.id}?`);
    const res = await client.post(`/console/dead-letters/${dl!.id}/delete`, { back: "/console/dead-letters" });
    expect(res.status).toBe(303);
    expect((await api(`/v1/dead-letters/${dl!.id}`)).status).toBe(404);
    expect((await client.get(`/console/dead-letters/${dl!.id}`)).status).toBe(404);
  });
});
