/**
 * The data plane v2 delivery consumer (src/consumers/deliveries.ts) against the real
 * TenantLog, real D1 tenants and endpoints made through the API and the real receiver; the
 * queue is a fake that records what the consumer sends, and the TenantLog namespace (and
 * D1, where a test counts its statements) is wrapped to count (and fail) calls. Each test
 * uses its own tenant, so its own TenantLog (named by the tenant's seq, as in production).
 * Also: failing_since and auto-disable (src/consumers/endpoint-health.ts), operational
 * events (src/core/operational.ts), and the Worker's queue() routing.
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { handleLogDeliveryBatch } from "../../src/consumers/deliveries";
import { emitOperational } from "../../src/core/operational";
import { pipelineDeps } from "../../src/core/deps";
import type { TenantLog } from "../../src/tenant-log/tenant-log";
import type { LogDeliverMessage } from "../../src/tenant-log/types";
import type { Recorded } from "../support/receiver";
import { fakeBatch, ingest, operator, endpoint, tenantLog, type Endpoint, type Tenant } from "./consumer-helpers";
import { call, fakeQueue, receiver, receiverLog, sleep, uniq, type FakeQueue } from "./pipeline-helpers";
import { worker } from "../support/worker-handlers";

/** Sized for a loaded 2-core CI run, not for one file alone. */
const TIMEOUT = 30_000;

type Stub = ReturnType<Env["TENANT_LOG"]["getByName"]>;

// ---------------------------------------------------------------------------
// Helpers of the consumer tests (the basic ones are in ./pipeline-helpers)

interface EndpointDbRow {
  status: string;
  disabled_reason: string | null;
  failing_since: number | null;
  version: number;
}

async function endpointRow(id: string): Promise<EndpointDbRow> {
  return (await env.DB.prepare(`SELECT status, disabled_reason, failing_since, version FROM endpoints WHERE id = ?`).bind(id).first<EndpointDbRow>())!;
}


interface Calls {
  /** getByName per object name: a deleted tenant's object must not even be addressed. */
  opened: Map<string, number>;
  claims: Map<string, number>;
  records: Map<string, number>;
}

interface Faults {
  /** Tenant logs (by name) whose claim throws. */
  claimThrows?: string[];
  /** Tenant logs (by name) whose first record throws before it reaches the object. */
  recordThrowsOnce?: string[];
}

/** The real TenantLog namespace, counting claim and record per object and failing them on request; other calls pass through. */
function countingLogs(faults: Faults = {}): { namespace: Env["TENANT_LOG"]; calls: Calls } {
  const calls: Calls = { opened: new Map(), claims: new Map(), records: new Map() };
  const bump = (m: Map<string, number>, name: string) => m.set(name, (m.get(name) ?? 0) + 1);
  const namespace = {
    getByName(name: string) {
      bump(calls.opened, name);
      const stub = env.TENANT_LOG.getByName(name);
      const wrapped = {
        claim: (...args: Parameters<Stub["claim"]>) => {
          bump(calls.claims, name);
          if (faults.claimThrows?.includes(name)) return Promise.reject(new Error("TenantLog overloaded (fake)"));
          return stub.claim(...args);
        },
        record: (...args: Parameters<Stub["record"]>) => {
          bump(calls.records, name);
          if (faults.recordThrowsOnce?.includes(name) && calls.records.get(name) === 1) return Promise.reject(new Error("TenantLog connection reset (fake)"));
          return stub.record(...args);
        },
      };
      return new Proxy(wrapped, { get: (target, prop) => (prop in target ? target[prop as keyof typeof target] : (stub as unknown as Record<string | symbol, unknown>)[prop]) });
    },
  } as unknown as Env["TENANT_LOG"];
  return { namespace, calls };
}

/** The real D1, recording every SQL text the consumer prepares. */
function recordingDb(): { db: D1Database; statements: string[] } {
  const statements: string[] = [];
  const real = env.DB;
  const db = new Proxy(real, {
    get(target, prop) {
      if (prop === "prepare") {
        return (query: string) => {
          statements.push(query);
          return target.prepare(query);
        };
      }
      const value = (target as unknown as Record<string | symbol, unknown>)[prop];
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { db, statements };
}

/** The Worker's env with a fake delivery queue and the given TenantLog namespace (never assigned onto `env`). */
function consumerEnv(options: { queue?: FakeQueue; logs?: Env["TENANT_LOG"]; db?: D1Database; vars?: Record<string, string> } = {}): { env: Env; queue: FakeQueue } {
  const queue = options.queue ?? fakeQueue();
  const overrides: Record<string, unknown> = { DELIVERY_QUEUE: queue.queue, TENANT_LOG: options.logs ?? env.TENANT_LOG, ...(options.db ? { DB: options.db } : {}), ...options.vars };
  const props = Object.fromEntries(Object.entries(overrides).map(([k, value]) => [k, { value, enumerable: true }]));
  return { env: Object.create(env, props) as Env, queue };
}

async function run(messages: LogDeliverMessage[], consumer: Env) {
  const fake = fakeBatch<LogDeliverMessage>("switchyard-deliveries", messages);
  await handleLogDeliveryBatch(fake.batch, consumer);
  const ids = fake.batch.messages.map((m) => m.id);
  return { ...fake, ids };
}

/** The deliver messages the fake queue received. */
const sentMessages = (q: FakeQueue) => q.sent.map((m) => ({ ...(m.body as LogDeliverMessage), delaySeconds: m.delaySeconds }));

const verify = (secret: string, r: Recorded) => new Webhook(secret).verify(r.body, r.headers);

/** Runs a retry message once it is due, as the queue would after its delaySeconds. */
async function runWhenDue(tenant: Tenant, ep: Endpoint, e: number, retry: LogDeliverMessage, consumer: Env) {
  const pending = await tenant.log.getDelivery(ep.ordinal, e);
  await sleep(Math.max(0, pending!.nextAttemptAt! - Date.now()));
  return run([retry], consumer);
}

const bodyOf = (m: LogDeliverMessage & { delaySeconds?: number }): LogDeliverMessage => ({ kind: m.kind, t: m.t, e: m.e, p: m.p, g: m.g });

describe("the delivery consumer (data plane v2)", () => {
  it(
    "a first-try success is sent once, signed, acked and recorded delivered with 1 attempt — one claim and one record for the tenant",
    async () => {
      const tenant = await tenantLog();
      const ep = await endpoint(tenant, `/ok/${uniq("first")}`);
      const ev = await ingest(tenant, { report: 7 });
      const { namespace, calls } = countingLogs();
      const { env: consumer, queue } = consumerEnv({ logs: namespace });

      const { acked, retried, ids } = await run(ev.messages, consumer);

      const got = await receiverLog(ep.path);
      expect(got).toHaveLength(1);
      expect(verify(ep.secret, got[0]!)).toMatchObject({ id: ev.id, type: "consumer.tested", data: { report: 7 } });
      expect(got[0]!.headers["webhook-id"]).toBe(ev.id);
      expect(got[0]!.headers["webhook-attempt"]).toBe("1");
      expect([...acked]).toEqual(ids);
      expect(retried.size).toBe(0);
      expect(queue.sent).toEqual([]);
      expect(calls.claims.get(String(tenant.t))).toBe(1);
      expect(calls.records.get(String(tenant.t))).toBe(1);
      const delivery = await tenant.log.getDelivery(ep.ordinal, ev.e);
      expect(delivery).toMatchObject({ status: "delivered", reason: null, attempts: 1, responseStatus: 200 });
      expect(delivery!.attemptList.map((a) => [a.n, a.responseStatus])).toEqual([[1, 200]]);
      expect(delivery!.attemptList[0]!.requestHeaders["webhook-signature"]).toBe("[redacted]");
      const listed = await tenant.log.listDeliveries(ep.ordinal, { limit: 10 });
      expect(listed.items.map((d) => [d.e, d.status, d.attempts])).toEqual([[ev.e, "delivered", 1]]);
    },
    TIMEOUT,
  );

  it(
    "a 500 with schedule [1] sends a new message with delaySeconds ≥ 1 and acks; that message, once due, makes attempt 2 and exhausts the schedule",
    async () => {
      const tenant = await tenantLog();
      const ep = await endpoint(tenant, `/status/500/${uniq("retry")}`, { retry_schedule: [1] });
      const ev = await ingest(tenant);
      const { env: consumer, queue } = consumerEnv();

      const first = await run(ev.messages, consumer);

      expect([...first.acked]).toEqual(first.ids);
      expect(first.retried.size).toBe(0);
      const [retry, ...others] = sentMessages(queue);
      expect(others).toEqual([]);
      expect(retry).toMatchObject({ kind: "deliver", t: tenant.t, e: ev.e, p: [ep.ordinal], g: 0 });
      expect(retry!.delaySeconds).toBeGreaterThanOrEqual(1);
      expect(retry!.delaySeconds).toBeLessThanOrEqual(2);
      const pending = await tenant.log.getDelivery(ep.ordinal, ev.e);
      expect(pending).toMatchObject({ status: "pending", attempts: 1, responseStatus: 500 });

      // The queue would hold it for delaySeconds; claim admits it once next_attempt_at is near.
      await sleep(Math.max(0, pending!.nextAttemptAt! - Date.now()));
      const { delaySeconds: _delay, ...retryBody } = retry!;
      const second = await run([retryBody], consumer);

      expect([...second.acked]).toEqual(second.ids);
      expect(sentMessages(queue)).toHaveLength(1); // no further retry
      const got = await receiverLog(ep.path);
      expect(got.map((r) => r.headers["webhook-attempt"])).toEqual(["1", "2"]);
      expect(await tenant.log.getDelivery(ep.ordinal, ev.e)).toMatchObject({ status: "failed", reason: "retries_exhausted", attempts: 2 });
    },
    TIMEOUT,
  );

  it(
    "a 410 is final: failed with non_retryable_status, no retry message, acked",
    async () => {
      const tenant = await tenantLog();
      const ep = await endpoint(tenant, `/status/410/${uniq("gone")}`);
      const ev = await ingest(tenant);
      const { env: consumer, queue } = consumerEnv();

      const { acked, retried, ids } = await run(ev.messages, consumer);

      expect([...acked]).toEqual(ids);
      expect(retried.size).toBe(0);
      expect(queue.sent).toEqual([]);
      expect(await receiverLog(ep.path)).toHaveLength(1);
      expect(await tenant.log.getDelivery(ep.ordinal, ev.e)).toMatchObject({ status: "failed", reason: "non_retryable_status", attempts: 1, responseStatus: 410 });
    },
    TIMEOUT,
  );

  it(
    "two tenants in one batch get one claim and one record each",
    async () => {
      const a = await tenantLog();
      const b = await tenantLog();
      const epA = await endpoint(a, `/ok/${uniq("two-a")}`);
      const epB = await endpoint(b, `/ok/${uniq("two-b")}`);
      const a1 = await ingest(a);
      const a2 = await ingest(a);
      const b1 = await ingest(b);
      const { namespace, calls } = countingLogs();
      const { env: consumer } = consumerEnv({ logs: namespace });

      const { acked, ids } = await run([...a1.messages, ...b1.messages, ...a2.messages], consumer);

      expect(new Set(acked)).toEqual(new Set(ids));
      expect(Object.fromEntries(calls.claims)).toEqual({ [String(a.t)]: 1, [String(b.t)]: 1 });
      expect(Object.fromEntries(calls.records)).toEqual({ [String(a.t)]: 1, [String(b.t)]: 1 });
      expect(await receiverLog(epA.path)).toHaveLength(2);
      expect(await receiverLog(epB.path)).toHaveLength(1);
      for (const [tenant, ep, e] of [
        [a, epA, a1.e],
        [a, epA, a2.e],
        [b, epB, b1.e],
      ] as const) {
        expect(await tenant.log.getDelivery(ep.ordinal, e)).toMatchObject({ status: "delivered", attempts: 1 });
      }
    },
    TIMEOUT,
  );

  it(
    "a record that throws once is retried in process: the receiver sees one request and the message is acked",
    async () => {
      const tenant = await tenantLog();
      const ep = await endpoint(tenant, `/ok/${uniq("record-fails")}`);
      const ev = await ingest(tenant);
      const { namespace, calls } = countingLogs({ recordThrowsOnce: [String(tenant.t)] });
      const { env: consumer } = consumerEnv({ logs: namespace });

      const { acked, retried, ids } = await run(ev.messages, consumer);

      expect(calls.records.get(String(tenant.t))).toBe(2);
      expect([...acked]).toEqual(ids);
      expect(retried.size).toBe(0);
      expect(await receiverLog(ep.path)).toHaveLength(1);
      expect(await tenant.log.getDelivery(ep.ordinal, ev.e)).toMatchObject({ status: "delivered", attempts: 1 });
    },
    TIMEOUT,
  );

  it(
    "a claim that throws retries every message of that tenant with a delay and sends nothing for it; the other tenant is delivered",
    async () => {
      const broken = await tenantLog();
      const fine = await tenantLog();
      const epBroken = await endpoint(broken, `/ok/${uniq("claim-fails")}`);
      const epFine = await endpoint(fine, `/ok/${uniq("claim-fine")}`);
      const b1 = await ingest(broken);
      const b2 = await ingest(broken);
      const f1 = await ingest(fine);
      const { namespace, calls } = countingLogs({ claimThrows: [String(broken.t)] });
      const { env: consumer, queue } = consumerEnv({ logs: namespace });

      const { batch, acked, retried, retryDelays } = await run([...b1.messages, ...f1.messages, ...b2.messages], consumer);

      const [m1, mFine, m2] = batch.messages.map((m) => m.id) as [string, string, string];
      expect(retried).toEqual(new Set([m1, m2]));
      for (const id of [m1, m2]) expect(retryDelays.get(id)).toBeGreaterThanOrEqual(1);
      expect(acked).toEqual(new Set([mFine]));
      expect(calls.records.get(String(broken.t))).toBeUndefined();
      expect(await receiverLog(epBroken.path)).toEqual([]);
      expect(queue.sent).toEqual([]);
      // Never an attempt, never a failure: both deliveries are still untried.
      for (const e of [b1.e, b2.e]) expect(await broken.log.getDelivery(epBroken.ordinal, e)).toMatchObject({ status: "pending", attempts: 0 });
      expect(await receiverLog(epFine.path)).toHaveLength(1);
    },
    TIMEOUT,
  );

  it(
    "a job copied twice in a batch is claimed and sent once; both copies are acked",
    async () => {
      const tenant = await tenantLog();
      const ep = await endpoint(tenant, `/ok/${uniq("copies")}`);
      const ev = await ingest(tenant);
      const { namespace, calls } = countingLogs();
      const { env: consumer } = consumerEnv({ logs: namespace });

      const { acked, ids } = await run([...ev.messages, ...ev.messages], consumer);

      expect(ids).toHaveLength(2);
      expect(new Set(acked)).toEqual(new Set(ids));
      expect(calls.claims.get(String(tenant.t))).toBe(1);
      expect(await receiverLog(ep.path)).toHaveLength(1);
      expect(await tenant.log.getDelivery(ep.ordinal, ev.e)).toMatchObject({ status: "delivered", attempts: 1 });
    },
    TIMEOUT,
  );

  it(
    "a URL the policy refuses at send time sends nothing, counts no attempt and fails the delivery with url_not_allowed",
    async () => {
      const tenant = await tenantLog();
      const ep = await endpoint(tenant, `/ok/${uniq("refused")}`);
      const ev = await ingest(tenant);
      // The receiver is http://127.0.0.1: allowed when the endpoint was made, refused now.
      const { env: consumer, queue } = consumerEnv({ vars: { ALLOW_PRIVATE_URLS: "false" } });

      const { acked, retried, ids } = await run(ev.messages, consumer);

      expect(await receiverLog(ep.path)).toEqual([]);
      expect(await tenant.log.getDelivery(ep.ordinal, ev.e)).toMatchObject({ status: "failed", reason: "url_not_allowed", attempts: 0, attemptList: [] });
      expect(queue.sent).toEqual([]);
      expect(retried.size).toBe(0);
      expect([...acked]).toEqual(ids);
      // No request was made: it says nothing about the receiver.
      expect((await endpointRow(ep.id)).failing_since).toBeNull();
    },
    TIMEOUT,
  );

  it(
    "one invocation sends at most 6 requests at once and at most 2 to one endpoint at a time; a healthy endpoint's whole share of the batch goes in that invocation",
    async () => {
      const tenant = await tenantLog();
      const key = uniq("lanes");
      const eps = [];
      for (let i = 0; i < 4; i++) eps.push(await endpoint(tenant, `/slow/300/${key}/${i}`));
      const messages: LogDeliverMessage[] = [];
      for (let i = 0; i < 4; i++) messages.push(...(await ingest(tenant)).messages);
      const { env: consumer, queue } = consumerEnv();

      const first = await run(messages, consumer);

      expect(new Set(first.acked)).toEqual(new Set(first.ids));
      // Nothing sent back: re-sending a healthy endpoint's backlog would only churn the queue.
      expect(sentMessages(queue)).toHaveLength(0);
      const got = await receiverLog(`/slow/300/${key}/`);
      expect(got).toHaveLength(16);
      // In flight at a request's start: those started before it whose 300 ms answer was not yet due.
      const busiest = (rs: Recorded[]) => Math.max(...rs.map((r) => rs.filter((o) => o.startAt <= r.startAt && o.startAt + 300 > r.startAt).length));
      expect(busiest(got)).toBeLessThanOrEqual(6);
      for (const ep of eps) expect(busiest(got.filter((r) => r.path === ep.path))).toBeLessThanOrEqual(2);
      for (const ep of eps) expect(got.filter((r) => r.path === ep.path)).toHaveLength(4);
    },
    TIMEOUT,
  );

  it(
    "an endpoint that left an attempt unanswered gets no more requests in that invocation: its other 8 deliveries come back 1–2 s later as new messages (same jobs, not msg.retry), no attempt spent; a healthy endpoint in the same batch gets all 10",
    async () => {
      const tenant = await tenantLog();
      const dead = await endpoint(tenant, `/reset/1000/${uniq("unanswering")}`);
      const healthy = await endpoint(tenant, `/ok/${uniq("healthy")}`);
      const events = [];
      for (let i = 0; i < 10; i++) events.push(await ingest(tenant));
      const { namespace, calls } = countingLogs();
      const { env: consumer, queue } = consumerEnv({ logs: namespace });

      const { acked, retried, ids } = await run(events.flatMap((ev) => ev.messages), consumer);

      // Two at once reached the dead endpoint (both unanswered); none after them.
      expect(await receiverLog(dead.path)).toHaveLength(2);
      expect(await receiverLog(healthy.path)).toHaveLength(10);
      expect(calls.claims.get(String(tenant.t))).toBe(1);
      expect(new Set(acked)).toEqual(new Set(ids));
      expect(retried.size).toBe(0);
      const again = sentMessages(queue).filter((m) => m.p.includes(dead.ordinal) && m.delaySeconds !== undefined && m.delaySeconds <= 2);
      expect(again).toHaveLength(8);
      for (const m of again) expect(m.delaySeconds).toBeGreaterThanOrEqual(1);
      const sent = new Set((await receiverLog(dead.path)).map((r) => r.headers["webhook-id"]));
      const waiting = events.filter((ev) => !sent.has(ev.id));
      expect(again.map(bodyOf).sort((x, y) => x.e - y.e)).toEqual(waiting.map((ev) => ({ kind: "deliver", t: tenant.t, e: ev.e, p: [dead.ordinal], g: 0 })));
      for (const ev of waiting) expect(await tenant.log.getDelivery(dead.ordinal, ev.e)).toMatchObject({ status: "pending", attempts: 0 });
    },
    TIMEOUT,
  );

  it(
    "messages naming a deleted tenant are acked without addressing its TenantLog",
    async () => {
      const tenant = await tenantLog();
      const ep = await endpoint(tenant, `/ok/${uniq("deleted")}`);
      const ev = await ingest(tenant);
      expect((await call("DELETE", `/v1/tenants/${tenant.id}`)).status).toBe(202);
      const live = await tenantLog();
      const epLive = await endpoint(live, `/ok/${uniq("deleted-other")}`);
      const evLive = await ingest(live);
      const { namespace, calls } = countingLogs();
      const { env: consumer, queue } = consumerEnv({ logs: namespace });

      const { acked, retried, ids } = await run([...ev.messages, ...evLive.messages], consumer);

      expect(new Set(acked)).toEqual(new Set(ids));
      expect(retried.size).toBe(0);
      expect(calls.opened.get(String(tenant.t))).toBeUndefined();
      expect(calls.claims.get(String(live.t))).toBe(1);
      expect(await receiverLog(ep.path)).toEqual([]);
      expect(await receiverLog(epLive.path)).toHaveLength(1);
      expect(queue.sent).toEqual([]);
    },
    TIMEOUT,
  );
});

describe("failing_since and auto-disable (data plane v2 consumer)", () => {
  it(
    "a failed attempt sets D1 failing_since without bumping the endpoint version; the next success clears it",
    async () => {
      const tenant = await tenantLog();
      const ep = await endpoint(tenant, `/fail/1/${uniq("recovers")}`, { retry_schedule: [1] });
      const before = await endpointRow(ep.id);
      expect(before.failing_since).toBeNull();
      const ev = await ingest(tenant);
      const { env: consumer, queue } = consumerEnv();

      const startedAt = Date.now();
      await run(ev.messages, consumer);

      const failing = await endpointRow(ep.id);
      expect(failing.failing_since).not.toBeNull();
      expect(failing.failing_since!).toBeGreaterThanOrEqual(startedAt);
      expect(failing.failing_since!).toBeLessThanOrEqual(Date.now());
      expect(failing.version).toBe(before.version);
      expect(failing.status).toBe("active");

      const [retry] = sentMessages(queue);
      const second = await runWhenDue(tenant, ep, ev.e, bodyOf(retry!), consumer);

      expect([...second.acked]).toEqual(second.ids);
      expect(await tenant.log.getDelivery(ep.ordinal, ev.e)).toMatchObject({ status: "delivered", attempts: 2 });
      const recovered = await endpointRow(ep.id);
      expect(recovered.failing_since).toBeNull();
      expect(recovered.version).toBe(before.version);
      expect(recovered.status).toBe("active");
    },
    TIMEOUT,
  );

  it(
    "a redirect, a timeout and a refused connection are failed attempts: each sets failing_since",
    async () => {
      const tenant = await tenantLog();
      const redirect = await endpoint(tenant, `/redirect/302/${uniq("moved")}`);
      const timeout = await endpoint(tenant, `/hang/${uniq("hang")}`, { timeout_ms: 1000 });
      // Nothing listens on port 1: the connection is refused.
      const refused = await endpoint(tenant, "", { url: `http://127.0.0.1:1/${uniq("refused")}` });
      const ev = await ingest(tenant);
      const { env: consumer } = consumerEnv();

      await run(ev.messages, consumer);

      expect(await tenant.log.getDelivery(redirect.ordinal, ev.e)).toMatchObject({ status: "failed", reason: "non_retryable_status", attempts: 1 });
      for (const ep of [timeout, refused]) expect(await tenant.log.getDelivery(ep.ordinal, ev.e)).toMatchObject({ status: "pending", attempts: 1, responseStatus: null });
      for (const ep of [redirect, timeout, refused]) expect((await endpointRow(ep.id)).failing_since).not.toBeNull();
    },
    TIMEOUT,
  );

  it(
    "D1 is not written on every batch: repeated successes write nothing, repeated failures set failing_since once",
    async () => {
      const tenant = await tenantLog();
      const ok = await endpoint(tenant, `/ok/${uniq("memo-ok")}`, { filter: { types: ["memo.ok"] } });
      const bad = await endpoint(tenant, `/status/500/${uniq("memo-bad")}`, { filter: { types: ["memo.bad"] }, retry_schedule: [60] });
      const { db, statements } = recordingDb();
      const { env: consumer } = consumerEnv({ db });
      const failingSinceWrites = () => statements.filter((q) => /UPDATE endpoints SET failing_since/.test(q)).length;

      for (let i = 0; i < 3; i++) await run((await ingest(tenant, {}, "memo.ok")).messages, consumer);
      expect(failingSinceWrites()).toBe(0);

      await run((await ingest(tenant, {}, "memo.bad")).messages, consumer);
      const since = (await endpointRow(bad.id)).failing_since;
      expect(since).not.toBeNull();
      expect(failingSinceWrites()).toBe(1);
      for (let i = 0; i < 3; i++) await run((await ingest(tenant, {}, "memo.bad")).messages, consumer);
      expect(failingSinceWrites()).toBe(1);
      expect((await endpointRow(bad.id)).failing_since).toBe(since);
      expect(await receiverLog(ok.path)).toHaveLength(3);
      expect(await receiverLog(bad.path)).toHaveLength(4);
    },
    TIMEOUT,
  );

  it(
    "an endpoint failing for AUTO_DISABLE_AFTER_S is disabled in D1 and in its TenantLog, and switchyard.endpoint.disabled reaches _operator once",
    async () => {
      const op = await operator();
      // An _operator endpoint that hears only this test's kind of event, so the emission's job is visible.
      const watcher = await endpoint(op, `/ok/${uniq("op-watch")}`, { filter: { types: ["switchyard.endpoint.disabled"] } });
      try {
        const tenant = await tenantLog();
        // The retry waits 2 s ± 10 %: past AUTO_DISABLE_AFTER_S (1 s) whatever the jitter.
        const ep = await endpoint(tenant, `/status/503/${uniq("dying")}`, { retry_schedule: [2, 2] });
        const before = await endpointRow(ep.id);
        const ev = await ingest(tenant);
        const { env: consumer, queue } = consumerEnv({ vars: { AUTO_DISABLE_AFTER_S: "1" } });

        await run(ev.messages, consumer);
        const failing = await endpointRow(ep.id);
        expect(failing).toMatchObject({ status: "active", version: before.version });
        const failingSince = failing.failing_since!;
        expect(failingSince).not.toBeNull();

        // The retry comes after ≥ 1.8 s: still failing, now for longer than AUTO_DISABLE_AFTER_S.
        const [retry] = sentMessages(queue);
        queue.sent.length = 0;
        const second = await runWhenDue(tenant, ep, ev.e, bodyOf(retry!), consumer);
        expect([...second.acked]).toEqual(second.ids);

        const reason = `failing since ${new Date(failingSince).toISOString()}`;
        expect(await endpointRow(ep.id)).toMatchObject({ status: "disabled", disabled_reason: reason, failing_since: failingSince, version: before.version + 1 });
        const api = await call("GET", `/v1/tenants/${tenant.id}/endpoints/${ep.id}`);
        expect(api.body).toMatchObject({ status: "disabled" });

        // The log has the disable: a new event's delivery fails at once, without a request.
        const later = await ingest(tenant);
        expect(later.messages).toEqual([]);
        expect(await tenant.log.getDelivery(ep.ordinal, later.e)).toMatchObject({ status: "failed", reason: "endpoint_disabled", attempts: 0 });

        // The operational event, stored once in _operator's log under its deterministic id.
        const id = `evt_disabled_${ep.id}_${failingSince}`;
        const seq = await op.log.findEventSeq(id);
        expect(seq).toBeDefined();
        const stored = await op.log.getEvent(seq!);
        expect(stored).toMatchObject({ id, type: "switchyard.endpoint.disabled" });
        expect(JSON.parse(stored!.dataJson)).toEqual({ tenant_id: tenant.id, endpoint_id: ep.id, url: `${receiver()}${ep.path}`, disabled_reason: reason, failing_since: new Date(failingSince).toISOString() });
        const listed = await op.log.listEvents({ type: "switchyard.endpoint.disabled", limit: 100 });
        expect(listed.items.filter((e) => e.id === id)).toHaveLength(1);
        // …and its delivery job was sent to the delivery queue, naming _operator's log.
        const opJobs = sentMessages(queue).filter((m) => m.t === op.t);
        expect(opJobs.filter((m) => m.e === seq && m.p.includes(watcher.ordinal))).toHaveLength(1);

        // Another failed attempt (a copy of the retry, sent before the disable landed) emits nothing more.
        const copy = await run([bodyOf(retry!)], consumer);
        expect([...copy.acked]).toEqual(copy.ids);
        expect((await op.log.listEvents({ type: "switchyard.endpoint.disabled", limit: 100 })).items.filter((e) => e.id === id)).toHaveLength(1);
      } finally {
        await call("DELETE", `/v1/tenants/_operator/endpoints/${watcher.id}`);
      }
    },
    TIMEOUT,
  );

  it(
    "auto-disable fails the endpoint's pending deliveries endpoint_disabled through the TenantLog; an untried one fails at its claim, unsent",
    async () => {
      const tenant = await tenantLog();
      const ep = await endpoint(tenant, `/status/500/${uniq("backlog")}`, { retry_schedule: [600] });
      const first = await ingest(tenant);
      const untried = await ingest(tenant);
      const { env: consumer, queue } = consumerEnv({ vars: { AUTO_DISABLE_AFTER_S: "0" } });

      // Its first failure is already AUTO_DISABLE_AFTER_S (0) long: the retry it scheduled in 600 s never comes.
      await run(first.messages, consumer);

      expect((await endpointRow(ep.id)).status).toBe("disabled");
      expect(await tenant.log.getDelivery(ep.ordinal, first.e)).toMatchObject({ status: "failed", reason: "endpoint_disabled", attempts: 1 });
      const retry = sentMessages(queue).find((m) => m.e === first.e);
      expect(retry).toBeDefined();
      const { acked, ids } = await run([bodyOf(retry!), ...untried.messages], consumer);

      expect(new Set(acked)).toEqual(new Set(ids));
      expect(await receiverLog(ep.path)).toHaveLength(1);
      expect(await tenant.log.getDelivery(ep.ordinal, untried.e)).toMatchObject({ status: "failed", reason: "endpoint_disabled", attempts: 0 });
    },
    TIMEOUT,
  );

  it(
    "the disable is decided on D1's failing_since; re-enabled through the API, the endpoint starts a new outage and its next failure does not disable it",
    async () => {
      const tenant = await tenantLog();
      const ep = await endpoint(tenant, `/status/500/${uniq("re-enabled")}`, { retry_schedule: [] });
      // Failing for two hours already (as another isolate recorded), with a one-hour limit.
      const since = Date.now() - 2 * 3_600_000;
      await env.DB.prepare(`UPDATE endpoints SET failing_since = ? WHERE id = ?`).bind(since, ep.id).run();
      const { env: consumer } = consumerEnv({ vars: { AUTO_DISABLE_AFTER_S: "3600" } });

      await run((await ingest(tenant)).messages, consumer);

      const disabled = await endpointRow(ep.id);
      expect(disabled).toMatchObject({ status: "disabled", failing_since: since, disabled_reason: `failing since ${new Date(since).toISOString()}` });

      const patched = await call("PATCH", `/v1/tenants/${tenant.id}/endpoints/${ep.id}`, { status: "active" });
      expect(patched.status, JSON.stringify(patched.body)).toBe(200);
      expect(await endpointRow(ep.id)).toMatchObject({ status: "active", failing_since: null });
      const before = Date.now();
      await run((await ingest(tenant)).messages, consumer);

      const after = await endpointRow(ep.id);
      expect(after.status).toBe("active");
      expect(after.failing_since!).toBeGreaterThanOrEqual(before);
      expect(await receiverLog(ep.path)).toHaveLength(2);
    },
    TIMEOUT,
  );

  it(
    "_operator's own endpoints are disabled like any other but emit no switchyard.endpoint.disabled (no loops)",
    async () => {
      const op = await operator();
      const type = `consumer.op_${Date.now().toString(36)}`;
      const ep = await endpoint(op, `/status/500/${uniq("op-dying")}`, { filter: { types: [type] }, retry_schedule: [] });
      try {
        const ev = await ingest(op, {}, type);
        const { env: consumer, queue } = consumerEnv({ vars: { AUTO_DISABLE_AFTER_S: "0" } });

        await run(ev.messages, consumer);

        const row = await endpointRow(ep.id);
        expect(row.status).toBe("disabled");
        expect(await op.log.findEventSeq(`evt_disabled_${ep.id}_${row.failing_since}`)).toBeUndefined();
        expect(queue.sent).toEqual([]);
      } finally {
        await call("DELETE", `/v1/tenants/_operator/endpoints/${ep.id}`);
      }
    },
    TIMEOUT,
  );

  it(
    "emitOperational is idempotent: the same id twice stores one event in _operator's log",
    async () => {
      const op = await operator();
      const id = `evt_disabled_${uniq("ep")}_1`;
      const ev = { type: "switchyard.endpoint.disabled", id, dataJson: JSON.stringify({ tenant_id: "x", endpoint_id: "ep_x", url: "https://example.com", disabled_reason: "r", failing_since: "2026-01-01T00:00:00.000Z" }), occurredAt: 1 };
      const { env: consumer } = consumerEnv();
      const deps = pipelineDeps(consumer);

      expect(await emitOperational(deps, [ev])).toBe(1);
      expect(await emitOperational(deps, [ev])).toBe(0);

      const seq = await op.log.findEventSeq(id);
      expect(seq).toBeDefined();
      expect((await op.log.listEvents({ type: "switchyard.endpoint.disabled", limit: 100 })).items.filter((e) => e.id === id)).toHaveLength(1);
    },
    TIMEOUT,
  );
});

describe("the circuit breaker (data plane v2 consumer)", () => {
  interface CircuitDbRow {
    circuit_state: string;
    circuit_open_until: number | null;
    version: number;
  }
  /** D1's mirror of the circuit (the other half of issue 18 adds the columns: checked, not assumed). */
  async function circuitRow(id: string): Promise<CircuitDbRow | null> {
    const columns = (await env.DB.prepare(`SELECT name FROM pragma_table_info('endpoints')`).all<{ name: string }>()).results.map((c) => c.name);
    if (!columns.includes("circuit_state")) {
      console.warn("D1 endpoints has no circuit_state column yet: the D1 mirror is not checked");
      return null;
    }
    return env.DB.prepare(`SELECT circuit_state, circuit_open_until, version FROM endpoints WHERE id = ?`).bind(id).first<CircuitDbRow>();
  }

  /** The one of `evs` held back after its endpoint's first two requests went unanswered (no request yet): its message, sent back 1–2 s later. */
  async function cappedOf(evs: { e: number; id: string }[], ep: Endpoint, queue: FakeQueue) {
    const requested = new Set((await receiverLog(ep.path)).map((r) => r.headers["webhook-id"]));
    const waiting = evs.filter((ev) => !requested.has(ev.id));
    expect(waiting).toHaveLength(1);
    const message = sentMessages(queue).find((m) => m.e === waiting[0]!.e);
    expect(message).toMatchObject({ p: [ep.ordinal], g: 0 });
    expect(message!.delaySeconds).toBeGreaterThanOrEqual(1);
    expect(message!.delaySeconds).toBeLessThanOrEqual(2);
    return message!;
  }

  /** The opening stored in the tenant's log (its time names the operational event). */
  const openedAt = (log: Stub, ordinal: number) =>
    runInDurableObject(log, (_o: TenantLog, state) => state.storage.sql.exec<{ opened_at: number | null }>(`SELECT opened_at FROM circuits WHERE ordinal = ?`, ordinal).toArray()[0]?.opened_at ?? null);

  it(
    "three connection failures open it: D1's row says open (version unchanged), switchyard.endpoint.circuit_opened reaches _operator once, and the next deliveries are parked without a request; a probe that gets an answer closes it and the parked ones are delivered",
    async () => {
      const op = await operator();
      const tenant = await tenantLog();
      // The first 3 requests are reset (no answer: what the circuit counts), then 200.
      const ep = await endpoint(tenant, `/reset/3/${uniq("breaker")}`);
      const before = await endpointRow(ep.id);
      const evs = [await ingest(tenant), await ingest(tenant), await ingest(tenant)];
      const { env: consumer, queue } = consumerEnv();

      // Two go at once (both unanswered: the count is 2); the third is held back…
      const first = await run(evs.flatMap((ev) => ev.messages), consumer);
      expect(new Set(first.acked)).toEqual(new Set(first.ids));
      expect(await receiverLog(ep.path)).toHaveLength(2);
      const third = await cappedOf(evs, ep, queue);
      expect(await circuitRow(ep.id)).toMatchObject({ circuit_state: "closed" });
      queue.sent.length = 0;
      // …whose failure, the third in a row, opens it.
      await run([bodyOf(third!)], consumer);
      expect(await receiverLog(ep.path)).toHaveLength(3);
      const at = await openedAt(tenant.log, ep.ordinal);
      expect(at).not.toBeNull();
      const openUntil = at! + 60_000;
      const d1 = await circuitRow(ep.id);
      if (d1) expect(d1).toEqual({ circuit_state: "open", circuit_open_until: openUntil, version: before.version });

      const id = `evt_circuit_${ep.id}_${at}`;
      const seq = await op.log.findEventSeq(id);
      expect(seq).toBeDefined();
      const stored = await op.log.getEvent(seq!);
      expect(stored).toMatchObject({ id, type: "switchyard.endpoint.circuit_opened" });
      expect(JSON.parse(stored!.dataJson)).toEqual({ tenant_id: tenant.id, endpoint_id: ep.id, url: `${receiver()}${ep.path}`, consecutive_failures: 3, open_until: new Date(openUntil).toISOString() });
      const opened = async () => (await op.log.listEvents({ type: "switchyard.endpoint.circuit_opened", limit: 250 })).items.filter((e) => e.id === id);
      expect(await opened()).toHaveLength(1);

      // Open: a new event's delivery is parked, no request, no attempt, nothing failed; its message is acked.
      const parked = await ingest(tenant);
      const held = await run(parked.messages, consumer);
      expect([...held.acked]).toEqual(held.ids);
      expect(await receiverLog(ep.path)).toHaveLength(3);
      expect(await tenant.log.getDelivery(ep.ordinal, parked.e)).toMatchObject({ status: "pending", attempts: 0 });
      expect(sentMessages(queue).filter((m) => m.e === parked.e)).toEqual([]);
      // The same batch again (a redelivery) reports nothing more.
      await run(parked.messages, consumer);
      expect(await opened()).toHaveLength(1);

      // Backdate the cool-off (stored, reloaded after an eviction): half-open.
      await runInDurableObject(tenant.log, (_o: TenantLog, state) => {
        state.storage.sql.exec(`UPDATE circuits SET open_until = ? WHERE ordinal = ?`, Date.now() - 1, ep.ordinal);
      });
      await evictDurableObject(tenant.log);
      queue.sent.length = 0;
      // The next delivery is the probe; the receiver answers now: closed, and the parked one is released.
      const probe = await ingest(tenant);
      await run(probe.messages, consumer);
      expect(await tenant.log.getDelivery(ep.ordinal, probe.e)).toMatchObject({ status: "delivered", attempts: 1 });
      const closed = await circuitRow(ep.id);
      if (closed) expect(closed).toEqual({ circuit_state: "closed", circuit_open_until: null, version: before.version });
      const released = sentMessages(queue).filter((m) => m.e === parked.e);
      expect(released).toEqual([{ kind: "deliver", t: tenant.t, e: parked.e, p: [ep.ordinal], g: 1, delaySeconds: undefined }]);
      await run(released.map(bodyOf), consumer);
      expect(await tenant.log.getDelivery(ep.ordinal, parked.e)).toMatchObject({ status: "delivered", attempts: 1 });
      expect(await opened()).toHaveLength(1);
    },
    TIMEOUT,
  );

  it(
    "a 5xx is an answer: three 503s in a row keep the normal schedule and never open the circuit",
    async () => {
      const tenant = await tenantLog();
      const ep = await endpoint(tenant, `/status/503/${uniq("answers")}`, { retry_schedule: [600] });
      const { env: consumer } = consumerEnv();
      for (let i = 0; i < 3; i++) await run((await ingest(tenant)).messages, consumer);
      expect(await receiverLog(ep.path)).toHaveLength(3);
      expect(await openedAt(tenant.log, ep.ordinal)).toBeNull();
      const row = await circuitRow(ep.id);
      if (row) expect(row.circuit_state).toBe("closed");
      // Still closed: the next one is sent.
      await run((await ingest(tenant)).messages, consumer);
      expect(await receiverLog(ep.path)).toHaveLength(4);
    },
    TIMEOUT,
  );

  it(
    "_operator's own endpoints open like any other (D1 mirrored) but emit no switchyard.endpoint.circuit_opened (no loops)",
    async () => {
      const op = await operator();
      const type = `consumer.circuit_${Date.now().toString(36)}`;
      const ep = await endpoint(op, `/reset/100/${uniq("op-breaker")}`, { filter: { types: [type] } });
      try {
        const { env: consumer, queue } = consumerEnv();
        const evs = [await ingest(op, {}, type), await ingest(op, {}, type), await ingest(op, {}, type)];
        await run(evs.flatMap((ev) => ev.messages), consumer);
        await run([bodyOf(await cappedOf(evs, ep, queue))], consumer);
        expect(await receiverLog(ep.path)).toHaveLength(3);
        const at = await openedAt(op.log, ep.ordinal);
        expect(at).not.toBeNull();
        const row = await circuitRow(ep.id);
        if (row) expect(row).toMatchObject({ circuit_state: "open", circuit_open_until: at! + 60_000 });
        expect(await op.log.findEventSeq(`evt_circuit_${ep.id}_${at}`)).toBeUndefined();
      } finally {
        await call("DELETE", `/v1/tenants/_operator/endpoints/${ep.id}`);
      }
    },
    TIMEOUT,
  );
});

describe("the Worker's queue() routing (data plane v2)", () => {
  it(
    "deliveries and deliveries-dlq batches reach the v2 handlers (a deleted tenant's messages are acked unread)",
    async () => {
      const tenant = await tenantLog();
      await endpoint(tenant, `/ok/${uniq("routed")}`);
      const ev = await ingest(tenant);
      expect((await call("DELETE", `/v1/tenants/${tenant.id}`)).status).toBe(202);
      const body = ev.messages[0]!;

      for (const queue of ["switchyard-deliveries", "switchyard-deliveries-dlq"]) {
        const id = uniq("routed-msg");
        const r = await worker.queue(queue, [{ id, timestamp: new Date(), attempts: 1, body: { ...body, trouble: { since: 0, redrives: 99 } } }]);
        expect(r.outcome).toBe("ok");
        expect(r.explicitAcks).toEqual([id]);
        expect(r.retryMessages).toEqual([]);
      }
    },
    TIMEOUT,
  );
});
