/**
 * Issue 13 (3): load with flapping receivers, against the real Worker under `wrangler dev`
 * (test/load/global-setup.ts) and a real receiver.
 *
 * LOAD_EVENTS events (default 10 000) are posted round-robin over LOAD_TENANTS tenants
 * (10) of LOAD_ENDPOINTS endpoints each (5, catch-all filters, retry_schedule
 * [1,2,2,4,4,8]), so every event fans out to 5 endpoints. A quarter of the endpoints
 * point at /flip/{key} receivers that a timer toggles between 503 and 200 every
 * LOAD_FLIP_MS (3 s; two groups in opposite phase). Once nothing is pending, the same
 * accounting as the queue-fault tests runs over the API and the receiver's counts, and
 * the numbers are printed (and written to LOAD_REPORT when set).
 *
 * LOAD_RESTART=1 restarts the Worker's runtime right after ingest, dropping every queued
 * message (the local queues live in its memory): each TenantLog's alarm re-drives them once
 * they are 15 minutes overdue, so that run takes 15+ minutes longer.
 *
 * Run: npx vitest run --config vitest.load.config.ts   (LOAD_EVENTS=2000 … for a shorter run)
 */
import { appendFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { expect, inject, it } from "vitest";
import { account, receivedKey, summary } from "../support/accounting";
import { api, apiOk, createEndpoint, createEventType, receiverUrl, setFlip, sleep, uid } from "../e2e/helpers";

const num = (name: string, fallback: number) => {
  const v = Number(process.env[name]);
  return process.env[name] && Number.isFinite(v) && v > 0 ? v : fallback;
};
const EVENTS = num("LOAD_EVENTS", 10_000);
const TENANTS = num("LOAD_TENANTS", 10);
const ENDPOINTS_PER_TENANT = num("LOAD_ENDPOINTS", 5);
const FLIP_MS = num("LOAD_FLIP_MS", 3000);
const CONCURRENCY = num("LOAD_CONCURRENCY", 16);
const TIMEOUT_MS = num("LOAD_TIMEOUT_MIN", 90) * 60_000;
const RESTART = process.env.LOAD_RESTART === "1";
const SCHEDULE = [1, 2, 2, 4, 4, 8];

interface LoadEndpoint {
  id: string;
  tenantId: string;
  path: string;
  flipKey: string | null;
}

/** Every page of a list route. */
async function listAll(path: string): Promise<any[]> {
  const out: any[] = [];
  let cursor: string | null = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page: { data: any[]; next_cursor: string | null } = await apiOk("GET", `${path}${sep}limit=250${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, undefined, 200);
    out.push(...page.data);
    cursor = page.next_cursor;
  } while (cursor);
  return out;
}

/** Runs `work` over 0..n-1 with `limit` in flight. */
async function pool(n: number, limit: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, n) }, async () => {
      while (next < n) await work(next++);
    }),
  );
}

it(`${EVENTS} events over ${TENANTS * ENDPOINTS_PER_TENANT} endpoints while a quarter of the receivers flap between 503 and 200: nothing lost`, async () => {
  const t0 = Date.now();
  const run = uid();
  const type = await createEventType({ prefix: "load" });
  const tenants: string[] = [];
  const endpoints: LoadEndpoint[] = [];
  for (let t = 0; t < TENANTS; t++) {
    const tid = `load-${run}-${t}`;
    await apiOk("POST", "/v1/tenants", { id: tid, name: `Load ${t}` }, 201);
    tenants.push(tid);
    for (let e = 0; e < ENDPOINTS_PER_TENANT; e++) {
      const i = t * ENDPOINTS_PER_TENANT + e;
      // A quarter of the endpoints (every fourth) flap.
      const flipKey = i % 4 === 3 ? `${run}-${i}` : null;
      const path = flipKey ? `/flip/${flipKey}` : `/ok/${run}/${i}`;
      const ep = await createEndpoint(tid, { url: `${receiverUrl()}${path}`, retry_schedule: SCHEDULE, description: `load ${i}` });
      endpoints.push({ id: ep.id, tenantId: tid, path, flipKey });
    }
  }
  const flapping = endpoints.filter((e) => e.flipKey !== null);

  // Two groups in opposite phase, toggled every FLIP_MS for the whole run.
  let phase = 0;
  let flips = 0;
  const applyPhase = async () => {
    await Promise.all(flapping.map((e, k) => setFlip(e.flipKey!, (k + phase) % 2 === 0 ? 503 : 200)));
    flips += 1;
  };
  await applyPhase();
  let flipping = true;
  const flipper = (async () => {
    while (flipping) {
      await sleep(FLIP_MS);
      if (!flipping) break;
      phase += 1;
      await applyPhase().catch(() => {});
    }
  })();

  // Ingest: each event has its own id, so a POST retried after an error is idempotent.
  const accepted = new Map<string, string>(); // event id → tenant id
  let ingestRetries = 0;
  const ingestStart = Date.now();
  await pool(EVENTS, CONCURRENCY, async (n) => {
    const tid = tenants[n % TENANTS]!;
    const id = `ld-${run}-${n}`;
    for (let tryNo = 1; ; tryNo++) {
      let status = 0;
      try {
        status = (await api("POST", `/v1/tenants/${tid}/events`, { id, type, data: { n, tenant: tid } })).status;
      } catch {
        status = 0;
      }
      if (status === 202 || status === 200) {
        accepted.set(id, tid);
        return;
      }
      if (tryNo >= 8) throw new Error(`event ${id} was not accepted (last status ${status})`);
      ingestRetries += 1;
      await sleep(250 * tryNo);
    }
  });
  const ingestMs = Date.now() - ingestStart;
  console.log(`[load] ingested ${accepted.size} events in ${ingestMs} ms (${Math.round((accepted.size / ingestMs) * 1000)}/s), ${ingestRetries} POST retries`);

  // LOAD_RESTART=1: restart the Worker's runtime once, right after ingest, by editing the
  // served copy of its sources (wrangler dev rebuilds and restarts). Every message in the
  // local queues is lost with it; the TenantLogs' alarms must re-drive them (15 min overdue).
  let restartedAt: number | null = null;
  if (RESTART) {
    const dir = inject("loadWorkerDir");
    if (dir === process.cwd()) throw new Error("LOAD_RESTART needs the snapshot (unset LOAD_SNAPSHOT=0)");
    appendFileSync(path.join(dir, "src", "index.ts"), `\n// load test: restart ${Date.now()}\n`);
    restartedAt = Date.now();
    console.log(`[load] restarting the runtime (queued messages are dropped) at +${Math.round((restartedAt - t0) / 1000)} s`);
    await sleep(5000);
  }

  // Settle: every expected delivery exists and none is pending.
  const expected = accepted.size * ENDPOINTS_PER_TENANT;
  const settleStart = Date.now();
  let last = "";
  for (;;) {
    let pending = 0;
    let done = 0;
    await pool(endpoints.length, 8, async (i) => {
      const ep = endpoints[i]!;
      const stats = await apiOk<any>("GET", `/v1/tenants/${ep.tenantId}/endpoints/${ep.id}/stats`, undefined, 200);
      pending += stats.counts.pending;
      done += stats.counts.delivered + stats.counts.failed;
    });
    const line = `[load] +${Math.round((Date.now() - t0) / 1000)} s: ${done}/${expected} final, ${pending} pending`;
    if (line !== last) console.log(line);
    last = line;
    if (pending === 0 && done >= expected) break;
    if (Date.now() - settleStart > TIMEOUT_MS) throw new Error(`not settled after ${TIMEOUT_MS} ms: ${line}`);
    await sleep(5000);
  }
  const settleMs = Date.now() - settleStart;
  flipping = false;
  await flipper;

  // The accounting, over the API and the receiver's counts.
  const deliveries: any[] = [];
  const deadLetters = new Map<string, number>();
  await pool(endpoints.length, 4, async (i) => {
    const ep = endpoints[i]!;
    deliveries.push(...(await listAll(`/v1/tenants/${ep.tenantId}/endpoints/${ep.id}/deliveries`)));
    for (const dl of await listAll(`/v1/dead-letters?tenant_id=${ep.tenantId}&endpoint_id=${ep.id}`)) {
      deadLetters.set(dl.delivery_id, (deadLetters.get(dl.delivery_id) ?? 0) + 1);
    }
  });
  const listedEvents = new Set<string>();
  for (const tid of tenants) for (const ev of await listAll(`/v1/tenants/${tid}/events`)) listedEvents.add(ev.id);
  const byPath = new Map(endpoints.map((e) => [e.path, e.id]));
  const received = new Map<string, number>();
  for (const prefix of [`/ok/${run}/`, `/flip/${run}-`]) {
    const counts = (await (await fetch(`${receiverUrl()}/_counts?prefix=${encodeURIComponent(prefix)}`)).json()) as Record<string, Record<string, number>>;
    for (const [path, ids] of Object.entries(counts)) {
      const endpointId = byPath.get(path);
      if (!endpointId) continue;
      for (const [eventId, n] of Object.entries(ids)) received.set(receivedKey(endpointId, eventId), n);
    }
  }
  const byTenant = new Map<string, string[]>();
  for (const e of endpoints) byTenant.set(e.tenantId, [...(byTenant.get(e.tenantId) ?? []), e.id]);
  const report = account({
    events: [...accepted].map(([id, tid]) => ({ id, tenantId: tid, expectedEndpoints: byTenant.get(tid)! })),
    deliveries: deliveries.map((d) => ({
      id: d.id,
      eventId: d.event_id,
      endpointId: d.endpoint_id,
      status: d.status,
      reason: d.reason,
      attempts: d.attempts,
      nextAttemptAt: d.next_attempt_at === null ? null : Date.parse(d.next_attempt_at),
    })),
    deadLetters,
    received,
    now: Date.now(),
    final: true,
  });
  const flappingIds = new Set(flapping.map((e) => e.id));
  const flapDeliveries = deliveries.filter((d) => flappingIds.has(d.endpoint_id));
  const numbers = {
    events_requested: EVENTS,
    events_accepted: accepted.size,
    events_listed: [...accepted.keys()].filter((id) => listedEvents.has(id)).length,
    tenants: TENANTS,
    endpoints: endpoints.length,
    flapping_endpoints: flapping.length,
    flip_ms: FLIP_MS,
    flips,
    retry_schedule: SCHEDULE,
    ingest_concurrency: CONCURRENCY,
    ingest_ms: ingestMs,
    ingest_post_retries: ingestRetries,
    settle_ms: settleMs,
    runtime_restart_after_ingest: RESTART,
    wall_ms: Date.now() - t0,
    deliveries: report.deliveries,
    delivered: report.delivered,
    failed: report.failed,
    failed_by_reason: report.failedByReason,
    pending: report.pending,
    stuck: report.stuck,
    attempts: report.attempts,
    retries: report.retries,
    flapping_deliveries: flapDeliveries.length,
    flapping_attempts: flapDeliveries.reduce((s, d) => s + d.attempts, 0),
    max_attempts: deliveries.reduce((m, d) => Math.max(m, d.attempts), 0),
    dead_letters: report.deadLetters,
    receiver_requests: report.receiverRequests,
    duplicates_at_receivers: report.duplicates,
    problems: report.problems,
  };
  console.log(`[load] ${summary(report)}`);
  console.log(`[load] ${JSON.stringify(numbers, null, 2)}`);
  if (process.env.LOAD_REPORT) writeFileSync(process.env.LOAD_REPORT, `${JSON.stringify(numbers, null, 2)}\n`);

  expect(accepted.size).toBe(EVENTS);
  expect(numbers.events_listed).toBe(EVENTS);
  expect(report.problems, report.problems.join("\n")).toEqual([]);
  expect(report.deliveries).toBe(EVENTS * ENDPOINTS_PER_TENANT);
  expect(report.pending).toBe(0);
  expect(report.stuck).toBe(0);
  expect(report.delivered + report.failed).toBe(report.deliveries);
  // The flapping receivers really were retried.
  expect(report.retries).toBeGreaterThan(0);
});
