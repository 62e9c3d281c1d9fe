/**
 * The tenant portal in a real browser (Debian's chromium driven by playwright-core)
 * against the real Worker under `wrangler dev` and a real receiver: a tenant's whole
 * journey, the portal inside another site's iframe, escaping, phone width, keyboard use
 * and axe-core. Screenshots of the main pages go to docs/portal/.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { api, apiOk, axeViolations, CHROMIUM_ARGS, expectNoHorizontalOverflow, receiverUrl, uid, workerUrl } from "./helpers";

const SHOTS = path.resolve(import.meta.dirname, "../../docs/portal");

async function magicLink(tenantId: string, body: Record<string, unknown> = {}): Promise<string> {
  return (await apiOk<{ url: string }>("POST", `/v1/tenants/${tenantId}/portal-sessions`, body, 201)).url;
}

/** Reloads `page` until `text` is visible in `scope` (the log updates as deliveries finish). */
async function reloadUntilVisible(page: Page, locate: () => ReturnType<Page["locator"]>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await locate().first().isVisible()) return;
    if (Date.now() > deadline) throw new Error(`not visible after ${timeoutMs} ms: ${locate().toString()}`);
    await page.waitForTimeout(500);
    await page.reload();
  }
}

describe("the tenant portal in a browser", () => {
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const tenant = `acme-${uid()}`;
  // Event types are global; the suite's Worker starts empty, and a 409 means another file made them.
  const vehicleCreated = "vehicle.created";
  const vehicleDeleted = "vehicle.deleted";
  const reportCompleted = "report.completed";
  const okKey = `/ok/fleet-${uid()}`;
  const failKey = `/status/500/backup-${uid()}`;
  const fixedKey = `/ok/backup-${uid()}`;
  const dialogs: string[] = [];
  const pageErrors: string[] = [];
  let okEndpointUrl = "";
  let failingDeliveryUrl = "";

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    await apiOk("POST", "/v1/tenants", { id: tenant, name: "Acme Fleet" }, 201);
    const types = [
      { name: vehicleCreated, description: "A vehicle was added to the fleet.", group: "fleet", example: { vehicle_id: "veh_123", plate: "AB-123-CD" } },
      { name: vehicleDeleted, description: "A vehicle was removed from the fleet.", group: "fleet", example: { vehicle_id: "veh_123" } },
      {
        name: reportCompleted,
        description: "An inspection report was completed and signed.",
        group: "inspections",
        schema: { type: "object", required: ["report_id"], properties: { report_id: { type: "string" }, note: { type: "string" } } },
        example: { report_id: "rep_42" },
      },
    ];
    for (const t of types) {
      const res = await api("POST", "/v1/event-types", t);
      if (res.status !== 201 && res.status !== 409) throw new Error(`event type ${t.name}: ${res.status} ${JSON.stringify(res.body)}`);
    }
    browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
    context = await browser.newContext({ viewport: { width: 1200, height: 900 }, timezoneId: "America/New_York", locale: "en-US" });
    page = await context.newPage();
    page.on("dialog", (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on("pageerror", (e) => pageErrors.push(e.message));
  });

  afterAll(async () => {
    await browser?.close();
  });

  it("opens the magic link and lands on an empty Endpoints page that says what to do", async () => {
    await page.goto(await magicLink(tenant));
    expect(new URL(page.url()).pathname).toBe("/portal");
    await expect.poll(() => page.getByRole("heading", { name: "No endpoints yet" }).isVisible(), { timeout: 15_000 }).toBe(true);
    expect(await page.getByRole("link", { name: "Add your first endpoint" }).isVisible()).toBe(true);
    const cookies = (await context.cookies()).filter((c) => c.domain === new URL(workerUrl()).hostname);
    const session = cookies.find((c) => c.name === "switchyard_portal");
    expect(session).toMatchObject({ httpOnly: true, secure: true, sameSite: "None", path: "/portal" });
    expect(await page.evaluate("document.cookie")).toBe("");
  });

  it("adds an endpoint by picking events from the catalog", async () => {
    await page.getByRole("link", { name: "Add your first endpoint" }).click();
    await page.getByLabel("Endpoint URL").fill(`${receiverUrl()}${okKey}`);
    await page.getByLabel("Description").fill("Fleet system");
    await page.getByRole("checkbox", { name: vehicleCreated }).check();
    // The script switched "Only the events I pick" on.
    expect(await page.getByRole("radio", { name: "Only the events I pick" }).isChecked()).toBe(true);
    await page.getByRole("checkbox", { name: reportCompleted }).check();
    await page.screenshot({ path: path.join(SHOTS, "add-endpoint.png"), fullPage: true });
    await page.getByRole("button", { name: "Add endpoint" }).click();
    await page.getByText("Endpoint added.").waitFor();
    okEndpointUrl = page.url().split("?")[0]!;
    const id = okEndpointUrl.split("/").pop()!;
    const ep = await apiOk("GET", `/v1/tenants/${tenant}/endpoints/${id}`, undefined, 200);
    expect(ep.filter).toEqual({ types: [vehicleCreated, reportCompleted], exclude: [], groups: [] });
  });

  it("an event posted through the API shows Delivered in the log, and a <script> payload is shown as text", async () => {
    const payload = { report_id: "rep_1", note: `<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">` };
    await apiOk("POST", `/v1/tenants/${tenant}/events`, { type: reportCompleted, data: payload }, 202);
    await apiOk("POST", `/v1/tenants/${tenant}/events`, { type: vehicleDeleted, data: { vehicle_id: "veh_9" } }, 202); // not subscribed
    await page.goto(okEndpointUrl);
    await reloadUntilVisible(page, () => page.locator("#log .badge", { hasText: "Delivered" }));
    expect(await page.locator("#log li").count()).toBe(1);
    await page.locator("#log").getByRole("link", { name: reportCompleted }).click();
    await page.getByRole("heading", { name: "Payload" }).waitFor();
    const shown = await page.locator("section", { has: page.getByRole("heading", { name: "Payload" }) }).locator("pre").textContent();
    expect(shown).toContain(`"note": ${JSON.stringify(payload.note)}`);
    expect(await page.evaluate("window.__pwned")).toBeUndefined();
    expect(await page.locator("img[src=x]").count()).toBe(0);
    expect(dialogs).toEqual([]);
  });

  it("sends a test event and sees the answer inline; reveals the secret", async () => {
    await page.goto(okEndpointUrl);
    await page.getByLabel("Event type").first().selectOption(vehicleCreated);
    await page.getByRole("button", { name: "Send test event" }).click();
    const result = page.locator("#test-result");
    await result.waitFor();
    expect(await result.textContent()).toContain("200 OK");
    expect(await result.locator("pre").textContent()).toBe("ok");
    await page.locator("#test").screenshot({ path: path.join(SHOTS, "test-send.png") });

    const id = okEndpointUrl.split("/").pop()!;
    const { secret } = await apiOk<{ secret: string }>("GET", `/v1/tenants/${tenant}/endpoints/${id}/secret`, undefined, 200);
    expect(await page.content()).not.toContain(secret);
    await page.getByRole("button", { name: "Reveal" }).click();
    expect(await page.locator("#secret-value").textContent()).toBe(secret);
    expect(await page.getByRole("button", { name: "Copy" }).isVisible()).toBe(true);
  });

  it("shows times in the viewer's zone, with UTC kept in the title", async () => {
    await page.goto(okEndpointUrl);
    const time = page.locator("#log time").first();
    expect(await time.getAttribute("title")).toMatch(/UTC$/);
    expect(await time.textContent()).not.toMatch(/UTC$/);
    expect(await page.locator("footer").textContent()).toContain("America/New_York");
  });

  it("a second endpoint on a failing receiver: filter to failures, open one, see attempts and the response body", async () => {
    await page.goto(`${workerUrl()}/portal`);
    await page.getByRole("link", { name: "Add endpoint" }).click();
    await page.getByLabel("Endpoint URL").fill(`${receiverUrl()}${failKey}`);
    await page.getByLabel("Description").fill("Backup system <b>(old)</b>");
    await page.getByLabel("Retry schedule").fill("none");
    await page.getByRole("button", { name: "Add endpoint" }).click();
    await page.getByText("Endpoint added.").waitFor();
    const failingEndpointUrl = page.url().split("?")[0]!;

    await apiOk("POST", `/v1/tenants/${tenant}/events`, { type: vehicleCreated, data: { vehicle_id: "veh_7", plate: "ZZ-999-ZZ" } }, 202);
    await page.getByLabel("Outcome").selectOption("failed");
    await page.getByRole("button", { name: "Show" }).click();
    expect(page.url()).toContain("status=failed");
    await reloadUntilVisible(page, () => page.locator("#log .badge", { hasText: "Failed" }));
    await page.locator("#log").getByRole("link", { name: vehicleCreated }).first().click();
    await page.getByRole("heading", { name: "Attempts" }).waitFor();
    failingDeliveryUrl = page.url();
    const attempts = page.locator("section", { has: page.getByRole("heading", { name: "Attempts" }) });
    expect(await attempts.textContent()).toContain("Attempt 1");
    expect(await attempts.textContent()).toContain("500 Internal Server Error");
    expect(await attempts.locator("pre").first().textContent()).toBe("status 500");
    expect(await page.locator("main").textContent()).toContain("every attempt failed");
    expect(await page.locator("main").textContent()).toContain("[redacted]");
    await page.screenshot({ path: path.join(SHOTS, "delivery-failed.png"), fullPage: true });

    // Fix the URL, retry, and see it delivered.
    await page.goto(failingEndpointUrl);
    await page.getByRole("link", { name: "Edit" }).click();
    await page.getByLabel("Endpoint URL").fill(`${receiverUrl()}${fixedKey}`);
    await page.getByRole("button", { name: "Save changes" }).click();
    await page.getByText("Changes saved.").waitFor();
    await page.goto(failingDeliveryUrl);
    await page.getByRole("button", { name: "Retry now" }).click();
    await page.getByText("Retry started.").waitFor();
    await reloadUntilVisible(page, () => page.locator("h1 .badge", { hasText: "Delivered" }));
    expect(await page.locator("main").textContent()).toContain("Attempt 2");
    const received = (await (await fetch(`${receiverUrl()}/_log?prefix=${encodeURIComponent(fixedKey)}`)).json()) as unknown[];
    expect(received).toHaveLength(1);
    await page.screenshot({ path: path.join(SHOTS, "delivery.png"), fullPage: true });
  });

  it("the Endpoints list and the Event catalog", async () => {
    await page.goto(`${workerUrl()}/portal`);
    const list = page.getByRole("region", { name: "Your endpoints" });
    expect(await list.locator("li").count()).toBe(2);
    expect(await list.textContent()).toContain("Backup system <b>(old)</b>");
    expect(await list.textContent()).toContain("Success, last 24 h");
    await page.screenshot({ path: path.join(SHOTS, "endpoints.png"), fullPage: true });
    await page.getByRole("link", { name: "Event catalog" }).click();
    await page.getByRole("heading", { name: "inspections", exact: true }).waitFor();
    await page.locator("details", { hasText: "Schema of the data" }).first().locator("summary").click();
    await page.screenshot({ path: path.join(SHOTS, "catalog.png"), fullPage: true });
  });

  it("charts an endpoint's delivered and failed deliveries and latency, on a desktop and at 375 px, with no axe violations", async () => {
    // A tenant of its own, so these deliveries touch no other test's endpoints.
    const charted = `charts-${uid()}`;
    const flip = `chart-${uid()}`;
    await apiOk("POST", "/v1/tenants", { id: charted, name: "Charted" }, 201);
    const ep = await apiOk<{ id: string }>("POST", `/v1/tenants/${charted}/endpoints`, { url: `${receiverUrl()}/flip/${flip}`, description: "Dispatch system", retry_schedule: [] }, 201);
    const post = () => apiOk("POST", `/v1/tenants/${charted}/events`, { type: vehicleCreated, data: { vehicle_id: `veh_${uid()}` } }, 202);
    for (let i = 0; i < 6; i++) await post();
    await expect
      .poll(async () => ((await (await fetch(`${receiverUrl()}/_log?prefix=${encodeURIComponent(`/flip/${flip}`)}`)).json()) as unknown[]).length, { timeout: 20_000, interval: 250 })
      .toBe(6);
    await fetch(`${receiverUrl()}/_flip/${flip}`, { method: "POST", body: JSON.stringify({ status: 500 }) });
    for (let i = 0; i < 2; i++) await post();

    const desk = await browser.newContext({ viewport: { width: 1200, height: 900 }, timezoneId: "America/New_York", locale: "en-US" });
    const p = await desk.newPage();
    p.on("pageerror", (e) => pageErrors.push(e.message));
    await p.goto(await magicLink(charted));
    const endpointUrl = `${workerUrl()}/portal/endpoints/${ep.id}`;
    await p.goto(endpointUrl);
    const volume = () => p.getByRole("img", { name: /^Delivered and failed, per hour, .*: 6 delivered, 2 failed, 75 % succeeded\.$/ });
    await reloadUntilVisible(p, volume);
    expect(await p.getByRole("img", { name: /^Answer time, per hour, .*p95 \d+ ms/ }).isVisible()).toBe(true);
    const activity = p.locator("#activity");
    expect(await activity.locator("figure").count()).toBe(2);
    expect(await activity.locator("rect.failed").count()).toBe(1);
    expect(await activity.locator(".chart-legend").first().textContent()).toMatch(/Delivered: 6.*Failed \(hatched\): 2/);
    // The figures as a table, for screen readers and copying.
    await activity.locator("details.chart-table summary").first().click();
    expect((await activity.locator("details.chart-table tfoot").first().innerText()).split(/\s+/)).toEqual(["Total", "6", "2"]);
    await activity.locator("details.chart-table summary").first().click();
    expect(await axeViolations(p), "endpoint page with charts").toEqual([]);
    await p.screenshot({ path: path.join(SHOTS, "endpoint.png"), fullPage: true });

    await p.getByRole("link", { name: "7 days" }).click();
    expect(new URL(p.url()).searchParams.get("range")).toBe("7d");
    await p.getByRole("heading", { name: "Last 7 days" }).waitFor();
    expect(await p.getByRole("img", { name: /per 6 hours, .*: 6 delivered, 2 failed/ }).isVisible()).toBe(true);
    expect(await p.getByRole("link", { name: "7 days" }).getAttribute("aria-current")).toBe("true");
    await desk.close();

    const phone = await browser.newContext({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    const q = await phone.newPage();
    await q.goto(await magicLink(charted));
    for (const url of [endpointUrl, `${endpointUrl}?range=7d`]) {
      await q.goto(url);
      await expectNoHorizontalOverflow(q);
      const svg = q.locator("#activity svg.chart-svg").first();
      const box = await svg.boundingBox();
      // The chart fills the card's width (no fixed size) and stays tall enough to read.
      expect(box!.width).toBeGreaterThan(250);
      expect(box!.x + box!.width).toBeLessThanOrEqual(375);
      expect(box!.height).toBeGreaterThan(120);
      expect(await axeViolations(q), `${url} at 375 px`).toEqual([]);
    }
    await q.goto(endpointUrl);
    await q.locator("#activity").screenshot({ path: path.join(SHOTS, "phone-charts.png") });
    await phone.close();
  });

  it("works at 375 px width without horizontal scrolling", async () => {
    const phone = await browser.newContext({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    const p = await phone.newPage();
    await p.goto(await magicLink(tenant));
    await expectNoHorizontalOverflow(p);
    await p.screenshot({ path: path.join(SHOTS, "phone-endpoints.png"), fullPage: true });
    for (const url of [okEndpointUrl, failingDeliveryUrl, `${workerUrl()}/portal/endpoints/new`, `${workerUrl()}/portal/event-types`]) {
      await p.goto(url);
      await expectNoHorizontalOverflow(p);
    }
    await p.goto(okEndpointUrl);
    await p.screenshot({ path: path.join(SHOTS, "phone-endpoint.png"), fullPage: false });
    await phone.close();
  });

  it("is usable by keyboard: skip link first, then the form submits with Enter", async () => {
    await page.goto(`${workerUrl()}/portal/endpoints/new`);
    await page.keyboard.press("Tab");
    expect(await page.evaluate("document.activeElement?.textContent")).toBe("Skip to content");
    await page.keyboard.press("Enter");
    await page.keyboard.press("Tab");
    expect(await page.evaluate("document.activeElement?.id")).toBe("url");
    await page.keyboard.type(`${receiverUrl()}/ok/browser-keyboard-${uid()}`);
    await page.keyboard.press("Enter");
    await page.getByText("Endpoint added.").waitFor();
  });

  it("has no serious or critical axe-core violations on the main pages", async () => {
    const pages = [`${workerUrl()}/portal`, `${workerUrl()}/portal/endpoints/new`, okEndpointUrl, failingDeliveryUrl, `${workerUrl()}/portal/event-types`];
    for (const url of pages) {
      await page.goto(url);
      expect(await axeViolations(page), url).toEqual([]);
    }
    await page.goto(okEndpointUrl);
    await page.getByRole("button", { name: "Send test event" }).click();
    await page.locator("#test-result").waitFor();
    expect(await axeViolations(page), "endpoint page with a test result").toEqual([]);
  });

  it("works inside an iframe of another site, and refuses to be framed by a site it does not allow", async () => {
    const host = await browser.newContext({ viewport: { width: 1100, height: 1000 } });
    const p = await host.newPage();
    await p.goto(`${inject("hostAppUrl")}/embed?src=${encodeURIComponent(await magicLink(tenant))}`);
    const frame = p.frameLocator("iframe[title=Webhooks]");
    await frame.getByRole("heading", { name: "Endpoints", exact: true }).waitFor();
    // A write inside the frame: the partitioned cookie, the CSRF token and the Origin check all hold.
    await frame.getByRole("link", { name: `${receiverUrl()}${okKey}` }).click();
    await frame.getByRole("button", { name: "Pause" }).click();
    await frame.getByText("Endpoint paused.").waitFor();
    await frame.getByRole("button", { name: "Resume" }).click();
    await frame.getByText("Endpoint active again.").waitFor();
    await frame.getByRole("link", { name: "← All endpoints" }).click();
    await frame.getByRole("heading", { name: "Endpoints", exact: true }).waitFor();
    await p.screenshot({ path: path.join(SHOTS, "iframe.png") });
    await host.close();

    const other = await browser.newContext();
    const q = await other.newPage();
    await q.goto(`${inject("otherHostAppUrl")}/embed?src=${encodeURIComponent(await magicLink(tenant))}`);
    await q.waitForTimeout(1500);
    const inner = q.frames().find((f) => f !== q.mainFrame());
    const innerText = inner ? await inner.evaluate<string>(`document.body?.innerText ?? ""`).catch(() => "") : "";
    expect(innerText).not.toContain("Endpoints");
    await other.close();
  });

  it("raised no script errors on any page", () => {
    expect(pageErrors).toEqual([]);
  });
});
