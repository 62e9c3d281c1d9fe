/**
 * @module What both browser suites share: chromium's flags, the admin API of the Worker under
 * test, the phone-width overflow check and axe-core.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { Page } from "playwright-core";
import { expect, inject } from "vitest";

export const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"];

export const uid = () => randomBytes(5).toString("hex");
export const workerUrl = () => inject("workerUrl");
export const receiverUrl = () => inject("receiverUrl");

/** A call to the Worker's API with the admin token. */
export async function api<T = any>(method: string, p: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${workerUrl()}${p}`, {
    method,
    headers: { authorization: `Bearer ${inject("adminToken")}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}

/** `api`, failing unless it answers `expected`. */
export async function apiOk<T = any>(method: string, p: string, body: unknown, expected: number): Promise<T> {
  const res = await api<T>(method, p, body);
  if (res.status !== expected) throw new Error(`${method} ${p} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

/** No element makes the page wider than the viewport. */
export async function expectNoHorizontalOverflow(page: Page): Promise<void> {
  const { scroll, client } = await page.evaluate<{ scroll: number; client: number }>("({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth })");
  expect(scroll, `page ${page.url()} is ${scroll}px wide in a ${client}px viewport`).toBeLessThanOrEqual(client);
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/** Runs axe-core in the page; returns the serious and critical violations. */
export async function axeViolations(page: Page): Promise<{ id: string; impact: string; nodes: string[] }[]> {
  // Evaluated through the DevTools protocol, so the page's CSP (script-src 'self') does not apply.
  await page.evaluate(axeSource);
  const result = await page.evaluate<{ id: string; impact: string; nodes: string[] }[]>(
    `axe.run(document, { resultTypes: ["violations"] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")) })))`,
  );
  return result.filter((v) => v.impact === "serious" || v.impact === "critical");
}
