import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, createApiKey, createTenant, expectInvalid, expectProblem, rawTable } from "./helpers";
import { fetchPortal, magicLink, ORIGIN, PORTAL_CSP, PortalClient, textOf } from "./portal-helpers";

const tokenOf = (url: string) => new URL(url).searchParams.get("token")!;

describe("POST /v1/tenants/{tid}/portal-sessions", () => {
  it("answers 201 with a one-time link on the request's origin and its expiry (default one hour)", async () => {
    const t = await createTenant();
    const before = Date.now();
    const res = await api(`/v1/tenants/${t}/portal-sessions`, { method: "POST" });
    expect(res.status, res.text).toBe(201);
    expect(Object.keys(res.body).sort()).toEqual(["expires_at", "url"]);
    const url = new URL(res.body.url);
    expect(url.origin).toBe(ORIGIN);
    expect(url.pathname).toBe("/portal/login");
    expect(tokenOf(res.body.url)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const expires = Date.parse(res.body.expires_at);
    expect(expires).toBeGreaterThanOrEqual(before + 3600_000 - 1000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 3600_000 + 1000);
  });

  it("takes expires_in between 60 and 86400 seconds and read_only as a boolean", async () => {
    const t = await createTenant();
    const ok = await api(`/v1/tenants/${t}/portal-sessions`, { body: { expires_in: 60, read_only: true } });
    expect(ok.status, ok.text).toBe(201);
    expect(Date.parse(ok.body.expires_at) - Date.now()).toBeLessThanOrEqual(60_000);
    expectInvalid(await api(`/v1/tenants/${t}/portal-sessions`, { body: { expires_in: 59 } }), "expires_in");
    expectInvalid(await api(`/v1/tenants/${t}/portal-sessions`, { body: { expires_in: 86_401 } }), "expires_in");
    expectInvalid(await api(`/v1/tenants/${t}/portal-sessions`, { body: { read_only: "yes" } }), "read_only");
    expectProblem(await api(`/v1/tenants/${t}/portal-sessions`, { body: { tenant_id: "other" } }), 422);
  });

  it("is for the admin only: tenant keys get 403, no token 401, an unknown tenant 404", async () => {
    const t = await createTenant();
    const key = await createApiKey(t);
    expectProblem(await api(`/v1/tenants/${t}/portal-sessions`, { body: {}, token: key.key }), 403);
    expectProblem(await api(`/v1/tenants/${t}/portal-sessions`, { body: {}, token: null }), 401);
    expectProblem(await api(`/v1/tenants/no-such-tenant/portal-sessions`, { body: {} }), 404);
  });

  it("is in /openapi.json", async () => {
    const doc = await api("/openapi.json", { token: null });
    const op = doc.body.paths["/v1/tenants/{tid}/portal-sessions"]?.post;
    expect(op).toBeDefined();
    expect(Object.keys(op.responses)).toContain("201");
    expect(doc.body.components.schemas.PortalSession).toBeDefined();
  });

  it("stores only hashes of the link and session tokens", async () => {
    const t = await createTenant();
    const link = await magicLink(t);
    const opened = await fetchPortal(link);
    const sessionToken = opened.headers.get("set-cookie")!.split(";")[0]!.split("=")[1]!;
    const table = await rawTable("portal_sessions");
    expect(table).not.toContain(tokenOf(link));
    expect(table).not.toContain(sessionToken);
  });
});

describe("opening the magic link", () => {
  it("starts a session with an HttpOnly, Secure, SameSite=None, Partitioned cookie on /portal and redirects there", async () => {
    const t = await createTenant();
    const opened = await fetchPortal(await magicLink(t, { expires_in: 900 }));
    expect(opened.status).toBe(303);
    expect(opened.headers.get("location")).toBe("/portal");
    const cookie = opened.headers.get("set-cookie")!;
    const attrs = cookie.split(";").map((s) => s.trim());
    expect(attrs[0]).toMatch(/^switchyard_portal=[A-Za-z0-9_-]{43}$/);
    expect(attrs).toEqual(expect.arrayContaining(["HttpOnly", "Secure", "SameSite=None", "Partitioned", "Path=/portal", "Max-Age=900"]));
  });

  it("works once: opening it again shows a friendly 410 page, not an error dump", async () => {
    const t = await createTenant();
    const link = await magicLink(t);
    expect((await fetchPortal(link)).status).toBe(303);
    const again = await fetchPortal(link);
    expect(again.status).toBe(410);
    expect(again.headers.get("content-type")).toContain("text/html");
    expect(again.headers.get("set-cookie")).toBeNull();
    expect(textOf(again.html)).toContain("This link was already used");
    expect(again.html).not.toMatch(/\bat \S+:\d+:\d+|problem\+json|"detail"/);
  });

  it("an expired link shows a friendly 410 page and starts nothing", async () => {
    const t = await createTenant();
    const link = await magicLink(t);
    await env.DB.prepare("UPDATE portal_sessions SET link_expires_at = ? WHERE tenant_id = ?").bind(Date.now() - 1, t).run();
    const res = await fetchPortal(link);
    expect(res.status).toBe(410);
    expect(res.headers.get("set-cookie")).toBeNull();
    expect(textOf(res.html)).toContain("This link has expired");
  });

  it("an unknown or missing token shows a friendly 401 page", async () => {
    const unknown = await fetchPortal("/portal/login?token=not-a-real-token");
    expect(unknown.status).toBe(401);
    expect(textOf(unknown.html)).toContain("This link is not valid");
    const missing = await fetchPortal("/portal/login");
    expect(missing.status).toBe(401);
    expect(textOf(missing.html)).toContain("This link is not complete");
  });

  it("a link of a tenant deleted since starts no session", async () => {
    const t = await createTenant();
    const link = await magicLink(t);
    expect((await api(`/v1/tenants/${t}`, { method: "DELETE" })).status).toBe(202);
    const res = await fetchPortal(link);
    expect(res.status).toBe(401);
    expect(res.headers.get("set-cookie")).toBeNull();
  });
});

describe("the session", () => {
  it("lasts as long as the link's expires_in, then pages ask to open the portal again", async () => {
    const t = await createTenant();
    const client = await PortalClient.open(t, { expires_in: 120 });
    const row = await env.DB.prepare("SELECT used_at, session_expires_at FROM portal_sessions WHERE tenant_id = ?").bind(t).first<{ used_at: number; session_expires_at: number }>();
    expect(row!.session_expires_at - row!.used_at).toBe(120_000);
    await env.DB.prepare("UPDATE portal_sessions SET session_expires_at = ? WHERE tenant_id = ?").bind(Date.now() - 1, t).run();
    const res = await client.get("/portal");
    expect(res.status).toBe(401);
    expect(textOf(res.html)).toContain("Your session has ended");
  });

  it("without a cookie, or with a made-up one, no page is shown", async () => {
    const none = await fetchPortal("/portal");
    expect(none.status).toBe(401);
    expect(none.html).not.toContain("Add your first endpoint");
    const forged = await fetchPortal("/portal/event-types", { headers: { cookie: "switchyard_portal=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" } });
    expect(forged.status).toBe(401);
  });

  it("signing out ends the session", async () => {
    const t = await createTenant();
    const client = await PortalClient.open(t);
    const out = await client.post("/portal/logout");
    expect(out.status).toBe(200);
    expect(textOf(out.html)).toContain("You are signed out");
    expect(out.headers.get("set-cookie")).toMatch(/switchyard_portal=;.*Max-Age=0/);
    expect((await client.get("/portal")).status).toBe(401);
  });

  it("the bearer auth of /v1 does not apply to the portal, and the portal cookie opens no API route", async () => {
    const t = await createTenant();
    const client = await PortalClient.open(t);
    expect((await client.get("/portal")).status).toBe(200);
    const apiWithCookie = await fetchPortal(`/v1/tenants/${t}/endpoints`, { headers: { cookie: client.cookie } });
    expect(apiWithCookie.status).toBe(401);
  });
});

describe("security headers", () => {
  it("every portal answer carries the CSP (frame-ancestors from PORTAL_FRAME_ANCESTORS), nosniff and a same-origin referrer policy", async () => {
    const t = await createTenant();
    const client = await PortalClient.open(t);
    const answers = [
      await fetchPortal("/portal/login?token=x"),
      await fetchPortal("/portal"),
      await fetchPortal("/portal/assets/portal.js"),
      await client.get("/portal"),
      await client.get("/portal/endpoints/new"),
      await client.get("/portal/event-types"),
      await client.get("/portal/endpoints/ep_missing"),
      await client.get("/portal/no/such/page"),
      await client.post("/portal/endpoints", {}, { csrf: "wrong" }),
    ];
    for (const a of answers) {
      expect(a.headers.get("content-security-policy")).toBe(PORTAL_CSP);
      expect(a.headers.get("x-content-type-options")).toBe("nosniff");
      expect(a.headers.get("referrer-policy")).toBe("same-origin");
    }
    expect((await client.get("/portal")).headers.get("cache-control")).toBe("no-store");
  });

  it("pages have no inline script or style: only the two same-origin files", async () => {
    const t = await createTenant();
    const client = await PortalClient.open(t);
    const html = (await client.get("/portal/endpoints/new")).html;
    expect(html.match(/<script\b[^>]*>/g)).toEqual(['<script src="/portal/assets/portal.js" defer=""></script>'.replace("</script>", "")]);
    expect(html).not.toMatch(/<style\b|\sstyle=|\son[a-z]+=/i);
    const css = await fetchPortal("/portal/assets/portal.css");
    expect(css.status).toBe(200);
    expect(css.headers.get("content-type")).toContain("text/css");
  });
});
