import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import { api, createEndpoint, createEventType, createTenant, postAndSettle, postEvent, settle, tenantLog, uniqueTypeName } from "./helpers";
import { endpointFields, PortalClient, textOf } from "./portal-helpers";

const receiver = () => inject("receiverUrl");

async function endpointOf(tenantId: string, id: string) {
  const res = await api(`/v1/tenants/${tenantId}/endpoints/${id}`);
  return res;
}

/** A delivery id of the endpoint (via the API). */
async function firstDelivery(tenantId: string, endpointId: string): Promise<string> {
  const res = await api(`/v1/tenants/${tenantId}/endpoints/${endpointId}/deliveries`);
  expect(res.body.data.length).toBeGreaterThan(0);
  return res.body.data[0].id as string;
}

describe("adding and editing an endpoint through the forms", () => {
  it("creates through the same rules as the API: picked events, groups, patterns, exclusions and options", async () => {
    const t = await createTenant();
    const group = `grp${Date.now()}`;
    const a = await createEventType(uniqueTypeName("order"), { group, description: "An order" });
    const b = await createEventType(uniqueTypeName("order"), { group });
    const client = await PortalClient.open(t);
    const form = await client.get("/portal/endpoints/new");
    expect(form.html).toContain(`value="${a}"`);
    expect(textOf(form.html)).toContain(`Everything in ${group}`);
    const res = await client.post("/portal/endpoints", [
      ...Object.entries(endpointFields({ url: `${receiver()}/ok/portal-form`, description: "Fleet system", events: "some", patterns: "vehicle.*", exclude: b, retry_schedule: "5 s, 1 min, 2h", rate_limit: "10", headers: "X-Team: blue", auth_type: "bearer", auth_token: "tok-123" })),
      ["types", a],
      ["groups", group],
    ]);
    expect(res.status, res.html).toBe(303);
    const id = /\/portal\/endpoints\/(ep_[a-z0-9]+)\?done=created/.exec(res.headers.get("location") ?? "")![1]!;
    const ep = (await endpointOf(t, id)).body;
    expect(ep).toMatchObject({
      url: `${receiver()}/ok/portal-form`,
      description: "Fleet system",
      filter: { types: [a, "vehicle.*"], groups: [group], exclude: [b] },
      retry_schedule: [5, 60, 7200],
      rate_limit: 10,
      headers: { "X-Team": "blue" },
      auth: { type: "bearer" },
      timeout_ms: 15_000,
      // A form without the breaker's fields keeps its defaults (on).
      circuit: { enabled: true, open_after: 3, cool_off_s: 60 },
    });
    const page = await client.get(res.headers.get("location")!);
    expect(textOf(page.html)).toContain("Endpoint added");

    // The edit form shows it back; "none" clears the retries, keep leaves the auth.
    const edit = await client.get(`/portal/endpoints/${id}/edit`);
    expect(edit.html).toContain('value="5 s, 1 min, 2 h"');
    const saved = await client.post(`/portal/endpoints/${id}`, [
      ...Object.entries(endpointFields({ url: `${receiver()}/ok/portal-form-2`, retry_schedule: "none", auth_type: "keep", events: "all" })),
    ]);
    expect(saved.status, saved.html).toBe(303);
    expect((await endpointOf(t, id)).body).toMatchObject({ url: `${receiver()}/ok/portal-form-2`, retry_schedule: [], auth: { type: "bearer" }, filter: { types: [], groups: [], exclude: [] } });
  });

  it("a refused form comes back with friendly inline messages and what was typed", async () => {
    const t = await createTenant();
    const client = await PortalClient.open(t);
    const res = await client.post("/portal/endpoints", endpointFields({ url: "ftp://nope.example", description: "Keep me", events: "some", headers: "Host: evil", rate_limit: "999", retry_schedule: "soon" }));
    expect(res.status).toBe(422);
    const text = textOf(res.html);
    expect(text).toContain("Please check the form.");
    expect(text).toContain("Pick at least one event");
    expect(text).toContain("The rate limit is a whole number from 1 to 250");
    expect(text).toContain('Retry schedule: "soon" is not a wait');
    expect(res.html).toContain('value="Keep me"');
    expect(res.html).toMatch(/aria-invalid="true"/);

    const rules = await client.post("/portal/endpoints", endpointFields({ url: "ftp://nope.example", headers: "Host: evil" }));
    expect(rules.status).toBe(422);
    expect(textOf(rules.html)).toMatch(/URL: .+/);
    expect(textOf(rules.html)).toContain("Header Host:");
    expect((await api(`/v1/tenants/${t}/endpoints`)).body.data).toHaveLength(0);
  });
});

describe("the circuit breaker in the portal", () => {
  const setCircuit = (id: string, state: "open" | "closed", openUntil: number | null) =>
    env.DB.prepare("UPDATE endpoints SET circuit_state = ?, circuit_open_until = ? WHERE id = ?").bind(state, openUntil, id).run();

  it("the form tunes the breaker and turns it off, through the same update as the API", async () => {
    const t = await createTenant();
    const client = await PortalClient.open(t);
    const blank = await client.get("/portal/endpoints/new");
    // Labelled controls, prefilled with the defaults.
    for (const [name, label] of [
      ["circuit", "Circuit breaker"],
      ["circuit_open_after", "Pause after this many timeouts in a row"],
      ["circuit_cool_off_s", "Wait before trying again (seconds)"],
    ]) {
      expect(blank.html).toContain(`<label for="${name}">${label}</label>`);
      expect(blank.html).toMatch(new RegExp(`<(select|input) id="${name}" name="${name}"`));
    }
    expect(blank.html).toMatch(/<option value="on" selected="">On \(recommended\)<\/option>/);
    expect(blank.html).toMatch(/id="circuit_open_after" name="circuit_open_after" type="number" value="3"/);
    expect(blank.html).toMatch(/id="circuit_cool_off_s" name="circuit_cool_off_s" type="number" value="60"/);

    const res = await client.post("/portal/endpoints", endpointFields({ url: `${receiver()}/ok/portal-circuit`, circuit: "on", circuit_open_after: "5", circuit_cool_off_s: "120" }));
    expect(res.status, res.html).toBe(303);
    const id = /\/portal\/endpoints\/(ep_[a-z0-9]+)\?done=created/.exec(res.headers.get("location") ?? "")![1]!;
    expect((await endpointOf(t, id)).body.circuit).toEqual({ enabled: true, open_after: 5, cool_off_s: 120 });
    const shown = textOf((await client.get(`/portal/endpoints/${id}`)).html);
    expect(shown).toContain("Circuit breaker On: pauses sending after 5 timeouts or failed connections in a row, then tries one delivery again after 2 min");

    const edit = await client.get(`/portal/endpoints/${id}/edit`);
    expect(edit.html).toMatch(/id="circuit_open_after" name="circuit_open_after" type="number" value="5"/);
    expect(edit.html).toMatch(/id="circuit_cool_off_s" name="circuit_cool_off_s" type="number" value="120"/);
    const version = async () => (await env.DB.prepare("SELECT version FROM endpoints WHERE id = ?").bind(id).first<{ version: number }>())!.version;
    const before = await version();
    const off = await client.post(`/portal/endpoints/${id}`, endpointFields({ url: `${receiver()}/ok/portal-circuit`, circuit: "off", circuit_open_after: "5", circuit_cool_off_s: "120" }));
    expect(off.status, off.html).toBe(303);
    expect((await endpointOf(t, id)).body.circuit).toEqual({ enabled: false, open_after: 5, cool_off_s: 120 });
    expect(await version()).toBe(before + 1);
    expect(textOf((await client.get(`/portal/endpoints/${id}`)).html)).toContain("Circuit breaker Off: we keep sending even when your system stops answering");
    expect((await client.get(`/portal/endpoints/${id}/edit`)).html).toMatch(/<option value="off" selected="">/);
  });

  it("refused breaker values come back inline with what was typed, and nothing changes", async () => {
    const t = await createTenant();
    const ep = await createEndpoint(t, { circuit: { open_after: 4 } });
    const client = await PortalClient.open(t);
    const tries: [string, string][] = [
      ["0", "60"],
      ["21", "60"],
      ["2.5", "60"],
      ["3", "9"],
      ["3", "3601"],
      ["three", "a minute"],
    ];
    for (const [openAfter, coolOff] of tries) {
      const res = await client.post(`/portal/endpoints/${ep.id}`, endpointFields({ url: ep.url, circuit_open_after: openAfter, circuit_cool_off_s: coolOff }));
      expect(res.status, `${openAfter} / ${coolOff}`).toBe(422);
      const text = textOf(res.html);
      expect(text).toContain("Please check the form.");
      if (openAfter !== "3") {
        expect(text).toContain("Pause after a whole number from 1 to 20 timeouts in a row.");
        expect(res.html).toMatch(/id="circuit_open_after"[^>]*aria-describedby="circuit_open_after-hint circuit_open_after-error" aria-invalid="true"/);
      }
      if (coolOff !== "60") expect(text).toContain("The wait before trying again is a whole number of seconds from 10 to 3600.");
      expect(res.html).toContain(`value="${openAfter}"`);
    }
    expect((await endpointOf(t, ep.id)).body.circuit).toEqual({ enabled: true, open_after: 4, cool_off_s: 60 });
  });

  it("an open circuit is explained in plain words with the next try; half open says it is trying; the list shows a badge", async () => {
    const t = await createTenant();
    const type = await createEventType(uniqueTypeName("portal"));
    const ep = await createEndpoint(t, { url: `${receiver()}/status/503/portal-circuit`, retry_schedule: [240, 240], circuit: { open_after: 4, cool_off_s: 300 } });
    await postEvent(t, { type, data: { n: 1 } });
    await settle(t);
    const client = await PortalClient.open(t);
    const closed = await client.get(`/portal/endpoints/${ep.id}`);
    expect(closed.html).not.toContain("circuit-notice");
    expect(textOf(closed.html)).toMatch(/Waiting to retry in (3|4|5) min/);
    expect(textOf((await client.get("/portal")).html)).not.toContain("Circuit open");

    const until = Date.now() + 4 * 60_000;
    await setCircuit(ep.id, "open", until);
    const open = await client.get(`/portal/endpoints/${ep.id}`);
    const text = textOf(open.html);
    expect(text).toContain("Circuit open");
    expect(text).toContain("Paused by the circuit breaker after 4 timeouts or failed connections in a row");
    expect(text).toContain("Nothing is lost and no attempts are used up");
    // Its waiting delivery goes only when the receiver answers again, whatever its schedule says.
    expect(text).toContain("Waiting until your system answers again");
    expect(text).not.toMatch(/Waiting to retry in/);
    // The next try, as a <time> the page script shows in the viewer's zone.
    expect(open.html).toContain(`The next try is at <time datetime="${new Date(until).toISOString()}">`);
    const list = textOf((await client.get("/portal")).html);
    expect(list).toContain("Active Circuit open");

    await setCircuit(ep.id, "open", Date.now() - 1000);
    const half = textOf((await client.get(`/portal/endpoints/${ep.id}`)).html);
    expect(half).toContain("Trying again");
    expect(half).toContain("sending one delivery to see whether your system answers");
    expect(half).not.toContain("Circuit open");

    // Disabled wins: the notice would only confuse.
    await env.DB.prepare("UPDATE endpoints SET status = 'disabled', disabled_reason = 'failing since x' WHERE id = ?").bind(ep.id).run();
    expect((await client.get(`/portal/endpoints/${ep.id}`)).html).not.toContain("circuit-notice");
    // A read-only viewer sees the same words.
    await env.DB.prepare("UPDATE endpoints SET status = 'active' WHERE id = ?").bind(ep.id).run();
    await setCircuit(ep.id, "open", until);
    const viewer = await PortalClient.open(t, { read_only: true });
    expect(textOf((await viewer.get(`/portal/endpoints/${ep.id}`)).html)).toContain("Paused by the circuit breaker");
  });
});

describe("the endpoint page", () => {
  it("keeps the secret out of the page until Reveal, then shows it; rotate makes a new one", async () => {
    const t = await createTenant();
    const ep = await createEndpoint(t, { url: `${receiver()}/ok/portal-secret` });
    const client = await PortalClient.open(t);
    const page = await client.get(`/portal/endpoints/${ep.id}`);
    expect(page.status).toBe(200);
    expect(page.html).not.toContain(ep.secret);
    const revealed = await client.post(`/portal/endpoints/${ep.id}/secret`);
    expect(revealed.status).toBe(200);
    expect(revealed.html).toContain(ep.secret);
    expect(revealed.headers.get("cache-control")).toBe("no-store");

    expect(textOf((await client.get(`/portal/endpoints/${ep.id}/rotate`)).html)).toContain("Rotate the signing secret?");
    const rotated = await client.post(`/portal/endpoints/${ep.id}/rotate`, { grace: "0" });
    expect(rotated.status).toBe(200);
    const secrets = (await api(`/v1/tenants/${t}/endpoints/${ep.id}/secret`)).body;
    expect(secrets.secret).not.toBe(ep.secret);
    expect(rotated.html).toContain(secrets.secret);
  });

  it("pause, resume and delete (after a confirmation page) go through the core verbs", async () => {
    const t = await createTenant();
    const ep = await createEndpoint(t);
    const client = await PortalClient.open(t);
    expect((await client.post(`/portal/endpoints/${ep.id}/status`, { status: "paused" })).status).toBe(303);
    expect((await endpointOf(t, ep.id)).body.status).toBe("paused");
    expect((await client.post(`/portal/endpoints/${ep.id}/status`, { status: "active" })).status).toBe(303);
    expect((await endpointOf(t, ep.id)).body.status).toBe("active");
    const confirm = await client.get(`/portal/endpoints/${ep.id}/delete`);
    expect(textOf(confirm.html)).toContain("Delete this endpoint?");
    expect((await endpointOf(t, ep.id)).status).toBe(200);
    expect((await client.post(`/portal/endpoints/${ep.id}/delete`)).headers.get("location")).toBe("/portal?done=deleted");
    expect((await endpointOf(t, ep.id)).status).toBe(404);
  });

  it("a disabled endpoint says why and offers Re-enable, which goes through the same update as the API", async () => {
    const t = await createTenant();
    const ep = await createEndpoint(t);
    await env.DB.prepare("UPDATE endpoints SET status = 'disabled', disabled_reason = 'failing since 2026-11-18', failing_since = 1 WHERE id = ?").bind(ep.id).run();
    const client = await PortalClient.open(t);
    const page = textOf((await client.get(`/portal/endpoints/${ep.id}`)).html);
    expect(page).toContain("Disabled");
    expect(page).toContain("failing since 2026-11-18");
    expect(page).toContain("Re-enable");
    expect((await client.post(`/portal/endpoints/${ep.id}/status`, { status: "active" })).status).toBe(303);
    expect((await endpointOf(t, ep.id)).body).toMatchObject({ status: "active", disabled_reason: null });
  });

  it("says in plain words when a failed delivery will be retried", async () => {
    const t = await createTenant();
    const type = await createEventType(uniqueTypeName("portal"));
    const ep = await createEndpoint(t, { url: `${receiver()}/status/503/portal-wait`, retry_schedule: [240, 240] });
    await postEvent(t, { type, data: { n: 1 } });
    await settle(t);
    const client = await PortalClient.open(t);
    const text = textOf((await client.get(`/portal/endpoints/${ep.id}`)).html);
    expect(text).toMatch(/Waiting to retry in (3|4|5) min/);
    expect(text).toContain("1 attempt · last answer 503 Service Unavailable");
  });

  it("sends a test event and shows the answer inline; the log filters by outcome and pages with the cursor", async () => {
    const t = await createTenant();
    const type = await createEventType(uniqueTypeName("portal"), { example: { n: 1 } });
    const ep = await createEndpoint(t, { url: `${receiver()}/ok/portal-test` });
    const client = await PortalClient.open(t);
    const sent = await client.post(`/portal/endpoints/${ep.id}/test`, { type, data: "" });
    expect(sent.status, sent.html).toBe(200);
    const text = textOf(sent.html);
    expect(text).toContain("200 OK");
    expect(text).toContain("Response body ok");
    const bad = await client.post(`/portal/endpoints/${ep.id}/test`, { type, data: "{not json" });
    expect(bad.status).toBe(422);
    expect(textOf(bad.html)).toContain("Data: this is not valid JSON.");
    // Data the send would alter, or nested deeper than the runtime can re-serialise: refused, nothing sent.
    const altered = await client.post(`/portal/endpoints/${ep.id}/test`, { type, data: '{"n":12345678901234567.0}' });
    expect(altered.status).toBe(422);
    const deep = await client.post(`/portal/endpoints/${ep.id}/test`, { type, data: "[".repeat(100_000) + "]".repeat(100_000) });
    expect(deep.status).toBe(422);
    expect(textOf(deep.html)).toContain("levels deep");

    const failing = await createEndpoint(t, { url: `${receiver()}/status/500/portal-log`, retry_schedule: [] });
    for (let i = 0; i < 3; i++) await postAndSettle(t, type, { i });
    const all = await client.get(`/portal/endpoints/${failing.id}`);
    expect(textOf(all.html)).toContain("Failed");
    const delivered = await client.get(`/portal/endpoints/${failing.id}?status=delivered`);
    expect(textOf(delivered.html)).toContain("No deliveries match these filters.");
    const first = await client.get(`/portal/endpoints/${ep.id}?status=delivered&type=${type}`);
    expect(first.html.match(/href="\/portal\/deliveries\//g)?.length).toBe(4); // 3 events and the test send
    // One page of the log holds 25; make more and follow "Older deliveries".
    for (let i = 0; i < 24; i++) await api(`/v1/tenants/${t}/events`, { body: { type, data: { i } } });
    await settle(t, 20_000);
    const page1 = await client.get(`/portal/endpoints/${ep.id}`);
    const next = /href="(\/portal\/endpoints\/[^"]+cursor=[^"#]+)/.exec(page1.html)?.[1]?.replaceAll("&amp;", "&");
    expect(next).toBeDefined();
    const page2 = await client.get(next!);
    expect(page2.html.match(/href="\/portal\/deliveries\//g)?.length).toBe(28 - 25);
  }, 30_000);

  it("the date filter reads the viewer's zone offset, and a bad cursor is explained, not an error", async () => {
    const t = await createTenant();
    const type = await createEventType(uniqueTypeName("portal"));
    const ep = await createEndpoint(t, { url: `${receiver()}/ok/portal-dates` });
    await postAndSettle(t, type);
    const client = await PortalClient.open(t);
    const now = new Date();
    const local = (d: Date) => d.toISOString().slice(0, 16);
    // 10:00 at UTC-5 (offset +300) is 15:00 UTC: an hour ago in UTC, typed as local time 5 h earlier.
    const hourAgo = new Date(now.getTime() - 3600_000);
    const typedLocal = local(new Date(hourAgo.getTime() - 300 * 60_000));
    const within = await client.get(`/portal/endpoints/${ep.id}?since=${typedLocal}&since_tz=300`);
    expect(within.html.match(/href="\/portal\/deliveries\//g)?.length).toBe(1);
    const later = await client.get(`/portal/endpoints/${ep.id}?since=${local(new Date(now.getTime() + 60_000 - 300 * 60_000))}&since_tz=300`);
    expect(textOf(later.html)).toContain("No deliveries match these filters.");
    const badCursor = await client.get(`/portal/endpoints/${ep.id}?cursor=zzz`);
    expect(badCursor.status).toBe(200);
    expect(textOf(badCursor.html)).toContain("That page link no longer works");
  });
});

describe("the delivery page", () => {
  it("shows attempts, the response body and the request with secrets redacted; Retry sends it again", async () => {
    const t = await createTenant();
    const type = await createEventType(uniqueTypeName("portal"));
    const ep = await createEndpoint(t, { url: `${receiver()}/status/500/portal-delivery`, retry_schedule: [], auth: { type: "bearer", token: "very-secret-token" } });
    await postAndSettle(t, type, { hello: "world" });
    const did = await firstDelivery(t, ep.id);
    const client = await PortalClient.open(t);
    const page = await client.get(`/portal/deliveries/${did}`);
    expect(page.status).toBe(200);
    const text = textOf(page.html);
    expect(text).toContain("Failed");
    expect(text).toContain("Attempt 1");
    expect(text).toContain("500 Internal Server Error");
    expect(text).toContain("status 500");
    expect(text).toContain('"hello": "world"');
    expect(text).toContain("[redacted]");
    expect(page.html).not.toContain("very-secret-token");

    await api(`/v1/tenants/${t}/endpoints/${ep.id}`, { method: "PATCH", body: { url: `${receiver()}/ok/portal-delivery` } });
    const retried = await client.post(`/portal/deliveries/${did}/retry`);
    expect(retried.status).toBe(303);
    await settle(t);
    const after = await client.get(retried.headers.get("location")!);
    expect(textOf(after.html)).toContain("Retry started");
    expect(textOf(after.html)).toContain("Delivered");
    expect(textOf(after.html)).toContain("Attempt 2");
  });

  it("Replay failed since… restarts the endpoint's failed deliveries", async () => {
    const t = await createTenant();
    const type = await createEventType(uniqueTypeName("portal"));
    const ep = await createEndpoint(t, { url: `${receiver()}/status/500/portal-replay`, retry_schedule: [] });
    await postAndSettle(t, type);
    await postAndSettle(t, type);
    const client = await PortalClient.open(t);
    const res = await client.post(`/portal/endpoints/${ep.id}/replay`, { window: "1h" });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toContain("done=replayed&count=2");
    expect(textOf((await client.get(res.headers.get("location")!)).html)).toContain("2 failed deliveries are being sent again");
  });
});

describe("escaping", () => {
  it("descriptions, header values, payloads and response bodies are shown as text, never as markup", async () => {
    const t = await createTenant();
    const type = await createEventType(uniqueTypeName("portal"), { description: "<b>bold</b> type" });
    const evil = "<script>alert('x')</script>";
    const ep = await createEndpoint(t, {
      url: `${receiver()}/ok/portal-escape`,
      description: `${evil} desc`,
      headers: { "X-Evil": `"><img src=x onerror=alert(1)>` },
    });
    await postAndSettle(t, type, { note: evil });
    const did = await firstDelivery(t, ep.id);
    // A receiver that answered markup: written into the stored first attempt of each day's deliveries.
    await runInDurableObject(await tenantLog(t), (_instance, state: DurableObjectState) => {
      const tables = state.storage.sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'deliveries_d%'").toArray();
      for (const { name } of tables) state.storage.sql.exec(`UPDATE ${name} SET a1_response_body = ?`, `${evil} response`);
    });
    const client = await PortalClient.open(t);
    const pages = [
      await client.get("/portal"),
      await client.get(`/portal/endpoints/${ep.id}`),
      await client.get(`/portal/endpoints/${ep.id}/edit`),
      await client.get(`/portal/deliveries/${did}`),
      await client.get("/portal/event-types"),
    ];
    for (const p of pages) {
      expect(p.status).toBe(200);
      expect(p.html).not.toContain("<script>alert");
      expect(p.html).not.toContain("<img src=x");
      expect(p.html).not.toContain("<b>bold</b>");
    }
    expect(pages[0]!.html).toContain("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; desc");
    expect(pages[1]!.html).toContain("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;");
    expect(pages[3]!.html).toContain("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; response");
    expect(textOf(pages[3]!.html)).toContain(`"note": "<script>alert('x')</script>"`);
    expect(pages[4]!.html).toContain("&lt;b&gt;bold&lt;/b&gt; type");
  });
});

describe("CSRF", () => {
  it("a write without the session's CSRF token, or with another session's, is refused with 403 and changes nothing", async () => {
    const t = await createTenant();
    const ep = await createEndpoint(t);
    const client = await PortalClient.open(t);
    const other = await PortalClient.open(t);
    for (const csrf of [null, "", "wrong", other.csrf]) {
      const res = await client.post(`/portal/endpoints/${ep.id}/status`, { status: "paused" }, { csrf });
      expect(res.status).toBe(403);
      expect(textOf(res.html)).toContain("This form has expired");
    }
    expect((await client.post("/portal/endpoints", endpointFields(), { csrf: null })).status).toBe(403);
    expect((await endpointOf(t, ep.id)).body.status).toBe("active");
    expect((await api(`/v1/tenants/${t}/endpoints`)).body.data).toHaveLength(1);
  });

  it("a form posted from another site is refused even with the right token", async () => {
    const t = await createTenant();
    const ep = await createEndpoint(t);
    const client = await PortalClient.open(t);
    const cross = await client.post(`/portal/endpoints/${ep.id}/status`, { status: "paused" }, { headers: { origin: "https://evil.example" } });
    expect(cross.status).toBe(403);
    expect(textOf(cross.html)).toContain("This form came from another site");
    const nullOrigin = await client.post(`/portal/endpoints/${ep.id}/status`, { status: "paused" }, { headers: { origin: "null" } });
    expect(nullOrigin.status).toBe(403);
    const fetchSite = await client.post(`/portal/endpoints/${ep.id}/status`, { status: "paused" }, { headers: { "sec-fetch-site": "cross-site" } });
    expect(fetchSite.status).toBe(403);
    expect((await endpointOf(t, ep.id)).body.status).toBe("active");
    // The same form from the portal's own origin goes through.
    expect((await client.post(`/portal/endpoints/${ep.id}/status`, { status: "paused" })).status).toBe(303);
  });
});

describe("read-only sessions", () => {
  it("see every page, with no controls to change anything", async () => {
    const t = await createTenant();
    const type = await createEventType(uniqueTypeName("portal"));
    const ep = await createEndpoint(t, { url: `${receiver()}/ok/portal-ro` });
    await postAndSettle(t, type);
    const did = await firstDelivery(t, ep.id);
    const viewer = await PortalClient.open(t, { read_only: true });
    const home = await viewer.get("/portal");
    expect(textOf(home.html)).toContain("View only");
    expect(home.html).not.toContain("Add endpoint");
    const page = await viewer.get(`/portal/endpoints/${ep.id}`);
    expect(page.status).toBe(200);
    expect(page.html).not.toMatch(/action="\/portal\/endpoints\/[^"]+\/(status|test|replay|rotate|delete)"/);
    expect((await viewer.get(`/portal/deliveries/${did}`)).html).not.toContain("/retry");
    expect((await viewer.get("/portal/event-types")).status).toBe(200);
    // Revealing the secret is a read.
    expect((await viewer.post(`/portal/endpoints/${ep.id}/secret`)).html).toContain(ep.secret);
  });

  it("every write answers 403 with a friendly page and changes nothing", async () => {
    const t = await createTenant();
    const type = await createEventType(uniqueTypeName("portal"), { example: { a: 1 } });
    const ep = await createEndpoint(t, { url: `${receiver()}/status/500/portal-ro-w`, retry_schedule: [] });
    await postAndSettle(t, type);
    const did = await firstDelivery(t, ep.id);
    const viewer = await PortalClient.open(t, { read_only: true });
    const writes: [string, Record<string, string>][] = [
      ["/portal/endpoints", endpointFields()],
      [`/portal/endpoints/${ep.id}`, endpointFields({ url: "https://example.com/changed" })],
      [`/portal/endpoints/${ep.id}/status`, { status: "paused" }],
      [`/portal/endpoints/${ep.id}/delete`, {}],
      [`/portal/endpoints/${ep.id}/rotate`, {}],
      [`/portal/endpoints/${ep.id}/test`, { type }],
      [`/portal/endpoints/${ep.id}/replay`, { window: "24h" }],
      [`/portal/deliveries/${did}/retry`, {}],
    ];
    for (const [path, fields] of writes) {
      const res = await viewer.post(path, fields);
      expect(res.status, path).toBe(403);
      expect(textOf(res.html)).toContain("This session can look at everything but not change anything");
    }
    const after = (await endpointOf(t, ep.id)).body;
    expect(after).toMatchObject({ status: "active", url: ep.url });
    expect((await api(`/v1/tenants/${t}/endpoints`)).body.data).toHaveLength(1);
    expect((await api(`/v1/tenants/${t}/endpoints/${ep.id}/secret`)).body.secret).toBe(ep.secret);
    expect((await api(`/v1/tenants/${t}/deliveries/${did}`)).body).toMatchObject({ status: "failed", attempts: [{ n: 1 }] });
  });
});

describe("tenant scoping", () => {
  it("a session of tenant A reaches none of tenant B's endpoints or deliveries by editing ids in URLs", async () => {
    const a = await createTenant();
    const b = await createTenant();
    const type = await createEventType(uniqueTypeName("portal"), { example: { a: 1 } });
    const epB = await createEndpoint(b, { url: `${receiver()}/status/500/portal-scope`, retry_schedule: [], description: "tenant B only" });
    await postAndSettle(b, type);
    const didB = await firstDelivery(b, epB.id);
    const clientA = await PortalClient.open(a);

    for (const path of [`/portal/endpoints/${epB.id}`, `/portal/endpoints/${epB.id}/edit`, `/portal/endpoints/${epB.id}/delete`, `/portal/endpoints/${epB.id}/rotate`, `/portal/deliveries/${didB}`]) {
      const res = await clientA.get(path);
      expect(res.status, path).toBe(404);
      expect(res.html).not.toContain("tenant B only");
      expect(textOf(res.html)).toContain("Not found");
    }
    const writes: [string, Record<string, string>][] = [
      [`/portal/endpoints/${epB.id}`, endpointFields({ url: "https://example.com/stolen" })],
      [`/portal/endpoints/${epB.id}/status`, { status: "paused" }],
      [`/portal/endpoints/${epB.id}/secret`, {}],
      [`/portal/endpoints/${epB.id}/rotate`, {}],
      [`/portal/endpoints/${epB.id}/test`, { type }],
      [`/portal/endpoints/${epB.id}/replay`, { window: "24h" }],
      [`/portal/endpoints/${epB.id}/delete`, {}],
      [`/portal/deliveries/${didB}/retry`, {}],
    ];
    for (const [path, fields] of writes) {
      const res = await clientA.post(path, fields);
      expect(res.status, path).toBe(404);
      expect(res.html).not.toContain(epB.secret);
    }
    const after = (await endpointOf(b, epB.id)).body;
    expect(after).toMatchObject({ status: "active", url: epB.url });
    expect((await api(`/v1/tenants/${b}/endpoints/${epB.id}/secret`)).body.secret).toBe(epB.secret);
    expect((await api(`/v1/tenants/${b}/deliveries/${didB}`)).body).toMatchObject({ status: "failed", attempts: [{ n: 1 }] });
  });

  it("a tenant id slipped into a form is ignored: the endpoint is made for the session's tenant", async () => {
    const a = await createTenant();
    const b = await createTenant();
    const clientA = await PortalClient.open(a);
    const res = await clientA.post("/portal/endpoints", { ...endpointFields({ url: "https://example.com/a-only" }), tenant_id: b, tid: b });
    expect(res.status).toBe(303);
    expect((await api(`/v1/tenants/${b}/endpoints`)).body.data).toHaveLength(0);
    expect((await api(`/v1/tenants/${a}/endpoints`)).body.data.map((e: { url: string }) => e.url)).toEqual(["https://example.com/a-only"]);
  });

  it("the catalog hides the built-in switchyard.* types from ordinary tenants", async () => {
    const t = await createTenant();
    const client = await PortalClient.open(t);
    expect((await client.get("/portal/event-types")).html).not.toContain("switchyard.delivery.failed");
    const op = await PortalClient.open("_operator");
    expect((await op.get("/portal/event-types")).html).toContain("switchyard.delivery.failed");
  });
});
