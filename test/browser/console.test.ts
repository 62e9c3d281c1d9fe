/**
 * The operator console in a real browser (Debian's chromium driven by playwright-core)
 * against the real Worker under `wrangler dev`, its real queue consumer and a real
 * receiver: signing in by keyboard, the cookie, each page with real data (tenants, an
 * endpoint failing and one behind an open circuit, dead letters replayed, a delivery found
 * from its id, a portal link opened), phone width, axe-core, and the charts once the
 * TenantLogs hand over their hourly totals. Screenshots go to docs/console/.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { api, apiOk, axeViolations, CHROMIUM_ARGS, expectNoHorizontalOverflow, receiverUrl, uid, workerUrl } from "./helpers";

const SHOTS = path.resolve(import.meta.dirname, "../../docs/console");

const consoleUrl = (p = "") => `${workerUrl()}/console${p}`;

/** Polls `probe` until it returns a value (the Worker's consumer and alarms work in the background). */
async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe("the operator console in a browser", () => {
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const fleet = `northwind-${uid()}`;
  const rentals = `contoso-${uid()}`;
  const type = "console.vehicle.checked";
  const pageErrors: string[] = [];
  let failingEndpoint = "";
  let circuitEndpoint = "";
  let failedDelivery = "";

  const mainNav = () => page.getByRole("navigation", { name: "Main" });

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    await apiOk("POST", "/v1/tenants", { id: fleet, name: "Northwind Fleet" }, 201);
    await apiOk("POST", "/v1/tenants", { id: rentals, name: "Contoso Rentals" }, 201);
    const t = await api("POST", "/v1/event-types", { name: type, description: "A vehicle passed its check." });
    if (t.status !== 201 && t.status !== 409) throw new Error(`event type: ${t.status}`);
    await apiOk("POST", `/v1/tenants/${fleet}/endpoints`, { url: `${receiverUrl()}/ok/console-fleet-${uid()}`, description: "Fleet system" }, 201);
    failingEndpoint = (await apiOk<{ id: string }>("POST", `/v1/tenants/${fleet}/endpoints`, { url: `${receiverUrl()}/status/410/console-${uid()}`, retry_schedule: [] }, 201)).id;
    await apiOk("POST", `/v1/tenants/${rentals}/endpoints`, { url: `${receiverUrl()}/slow/120/console-rentals-${uid()}` }, 201);
    circuitEndpoint = (
      await apiOk<{ id: string }>(
        "POST",
        `/v1/tenants/${rentals}/endpoints`,
        { url: `${receiverUrl()}/reset/50/console-${uid()}`, retry_schedule: [], circuit: { enabled: true, open_after: 1, cool_off_s: 3600 } },
        201,
      )
    ).id;
    let firstEvent = "";
    for (let i = 0; i < 4; i++) {
      const ev = await apiOk<{ id: string }>("POST", `/v1/tenants/${fleet}/events`, { type, data: { vehicle: `veh_${i}`, passed: i % 2 === 0 } }, 202);
      firstEvent ||= ev.id;
      await apiOk("POST", `/v1/tenants/${rentals}/events`, { type, data: { vehicle: `car_${i}` } }, 202);
    }
    const ev = await apiOk<{ deliveries: { delivery_id: string; endpoint_id: string }[] }>("GET", `/v1/tenants/${fleet}/events/${firstEvent}`, undefined, 200);
    failedDelivery = ev.deliveries.find((d) => d.endpoint_id === failingEndpoint)!.delivery_id;
    // The consumer delivers in the background; the TenantLogs hand dead letters to D1 from their alarms.
    await until("dead letters of both tenants", async () => {
      const [a, b] = await Promise.all([api("GET", `/v1/dead-letters?tenant_id=${fleet}`), api("GET", `/v1/dead-letters?tenant_id=${rentals}`)]);
      return a.body.data.length >= 4 && b.body.data.length >= 1;
    }, 90_000);
    browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: "Europe/Berlin", locale: "en-GB" });
    page = await context.newPage();
    page.on("pageerror", (e) => pageErrors.push(e.message));
  });

  afterAll(async () => {
    await browser?.close();
  });

  it("signs in by keyboard: a wrong token is refused in place, the right one lands on the page asked for", async () => {
    await page.goto(consoleUrl("/endpoints"));
    expect(new URL(page.url()).pathname).toBe("/console/sign-in");
    await page.keyboard.press("Tab");
    expect(await page.evaluate("document.activeElement?.textContent")).toBe("Skip to content");
    await page.keyboard.press("Enter");
    await page.keyboard.press("Tab");
    expect(await page.evaluate("document.activeElement?.id")).toBe("token");
    await page.keyboard.type("not-the-token");
    await page.keyboard.press("Enter");
    await page.getByText("That token was not accepted.").waitFor();
    await page.screenshot({ path: path.join(SHOTS, "sign-in.png") });
    await page.locator("#token").fill(inject("adminToken"));
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Endpoints needing attention" }).waitFor();
    expect(new URL(page.url()).pathname).toBe("/console/endpoints");
    const session = (await context.cookies()).find((c) => c.name === "switchyard_console");
    expect(session).toMatchObject({ httpOnly: true, secure: true, sameSite: "None", path: "/console" });
    expect(await page.evaluate("document.cookie")).toBe("");
  });

  it("lists the endpoints needing attention, each linked to its tenant", async () => {
    await page.goto(consoleUrl("/endpoints"));
    const failing = page.locator("tr", { hasText: failingEndpoint });
    const circuit = page.locator("tr", { hasText: circuitEndpoint });
    await until("the failing and the open-circuit endpoint", async () => {
      await page.reload();
      return (await failing.count()) === 1 && (await circuit.locator(".badge", { hasText: "Circuit open" }).count()) === 1;
    });
    expect(await failing.locator(".badge", { hasText: "Failing" }).count()).toBe(1);
    expect(await failing.getByRole("link", { name: fleet }).getAttribute("href")).toBe(`/console/tenants/${fleet}`);
    await page.screenshot({ path: path.join(SHOTS, "endpoints.png"), fullPage: true });
  });

  it("the overview lists the tenants with their figures and charts", async () => {
    await mainNav().getByRole("link", { name: "Tenants" }).click();
    await page.getByRole("heading", { name: "Tenants", exact: true }).waitFor();
    const row = page.locator("tr", { hasText: "Northwind Fleet" });
    expect(await row.count()).toBe(1);
    expect(await page.getByRole("figure").count()).toBe(2);
    await page.screenshot({ path: path.join(SHOTS, "overview.png"), fullPage: true });
  });

  it("a tenant's page makes a one-time portal link to copy, and it opens that tenant's portal", async () => {
    await page.locator("tr", { hasText: "Contoso Rentals" }).getByRole("link", { name: "Contoso Rentals" }).click();
    await page.getByRole("heading", { name: "Contoso Rentals", exact: true }).waitFor();
    await page.getByLabel("Link and session last").selectOption("900");
    await page.getByRole("button", { name: "Make a link to share" }).click();
    const link = await page.locator("#portal-link").textContent();
    expect(new URL(link!).pathname).toBe("/portal/login");
    expect(await page.getByRole("button", { name: "Copy" }).isVisible()).toBe(true);
    await page.screenshot({ path: path.join(SHOTS, "tenant.png"), fullPage: true });
    const portal = await browser.newContext();
    const p = await portal.newPage();
    await p.goto(link!);
    await p.getByRole("heading", { name: "Endpoints", exact: true }).waitFor();
    expect(await p.locator("main").textContent()).toContain("/reset/50/console-");
    await portal.close();
  });

  it("filters dead letters by tenant and replays one", async () => {
    await mainNav().getByRole("link", { name: "Dead letters" }).click();
    await page.getByLabel("Tenant id").fill(fleet);
    await page.getByRole("button", { name: "Show" }).click();
    expect(page.url()).toContain(`tenant=${fleet}`);
    const rows = page.locator("tbody tr");
    const before = await rows.count();
    expect(before).toBeGreaterThanOrEqual(4);
    expect(await page.locator("tbody").textContent()).not.toContain(rentals);
    await page.screenshot({ path: path.join(SHOTS, "dead-letters.png"), fullPage: true });
    const first = rows.first();
    const id = (await first.locator("code").first().textContent())!;
    await first.getByRole("button", { name: `Replay ${id}` }).click();
    await page.getByText("Replay started").waitFor();
    expect(await page.locator("tbody").textContent()).not.toContain(id);
  });

  it("finds a delivery from its id alone", async () => {
    await mainNav().getByRole("link", { name: "Find by id" }).click();
    await page.getByRole("textbox", { name: /^Id\b/ }).fill(failedDelivery);
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Attempts" }).waitFor();
    const main = (await page.locator("main").textContent())!;
    expect(main).toContain(failedDelivery);
    expect(main).toContain("410 Gone");
    expect(main).toContain(fleet);
    await page.screenshot({ path: path.join(SHOTS, "find.png"), fullPage: true });
  });

  it("works at 375 px width without horizontal scrolling", async () => {
    const phone = await browser.newContext({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    await phone.addCookies((await context.cookies()).filter((c) => c.name === "switchyard_console"));
    const p = await phone.newPage();
    for (const url of [consoleUrl(), consoleUrl(`/tenants/${fleet}`), consoleUrl("/endpoints"), consoleUrl(`/dead-letters?tenant=${fleet}`), consoleUrl(`/find?q=${failedDelivery}`)]) {
      await p.goto(url);
      expect(new URL(p.url()).pathname).not.toBe("/console/sign-in");
      await expectNoHorizontalOverflow(p);
    }
    await p.goto(consoleUrl(`/dead-letters?tenant=${fleet}`));
    await p.screenshot({ path: path.join(SHOTS, "phone-dead-letters.png"), fullPage: false });
    await p.goto(consoleUrl());
    await p.screenshot({ path: path.join(SHOTS, "phone-overview.png"), fullPage: false });
    await phone.close();
  });

  it("has no serious or critical axe-core violations on any page", async () => {
    const dl = (await api("GET", `/v1/dead-letters?tenant_id=${fleet}`)).body.data[0].id as string;
    const pages = [
      consoleUrl(),
      consoleUrl("?range=7d"),
      consoleUrl(`/tenants/${fleet}`),
      consoleUrl("/endpoints"),
      consoleUrl("/dead-letters"),
      consoleUrl(`/dead-letters/${dl}`),
      consoleUrl(`/dead-letters/${dl}/delete`),
      consoleUrl(`/find?q=${failedDelivery}`),
      consoleUrl("/find?q=nothing-here"),
    ];
    for (const url of pages) {
      await page.goto(url);
      expect(await axeViolations(page), url).toEqual([]);
    }
    const signedOut = await browser.newContext();
    const p = await signedOut.newPage();
    await p.goto(consoleUrl("/sign-in"));
    expect(await axeViolations(p), "sign-in").toEqual([]);
    await signedOut.close();
  });

  it("the charts show delivered and failed deliveries once the tenants' logs hand over their hourly totals", async () => {
    // A TenantLog hands its totals to D1 at most once a minute.
    await until(
      "delivered and failed bars on the overview's chart",
      async () => {
        await page.goto(consoleUrl());
        return (await page.locator(".chart rect.delivered").count()) > 0 && (await page.locator(".chart rect.failed").count()) > 0;
      },
      150_000,
    );
    await page.locator("section", { has: page.getByRole("heading", { name: /Deliveries and latency/ }) }).screenshot({ path: path.join(SHOTS, "charts.png") });
    const summary = (await page.getByRole("img").first().getAttribute("aria-label"))!;
    expect(summary).toMatch(/[1-9]\d* delivered, [1-9]\d* failed/);
  }, 180_000);

  it("signs out", async () => {
    await page.goto(consoleUrl());
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByText("You are signed out.").waitFor();
    await page.goto(consoleUrl());
    expect(new URL(page.url()).pathname).toBe("/console/sign-in");
  });

  it("raised no script errors on any page", () => {
    expect(pageErrors).toEqual([]);
  });
});
