/**
 * The data plane v2 delivery consumer (src/consumers/deliveries.ts) against the real
 * TenantLog, real D1 endpoint rows made through the API and the real receiver; the queue
 * is a fake that records what the consumer sends, and the TenantLog namespace is wrapped
 * to count (and fail) its calls. Each test uses its own TenantLog, named by a fresh tenant seq.
 */
import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { handleLogDeliveryBatch } from "../../src/consumers/deliveries";
import type { DeliveryJob, LogDeliverMessage } from "../../src/tenant-log/types";
import type { Recorded } from "../support/receiver";
import { fakeBatch, fakeQueue, newEndpoint, newTenant, receiver, receiverLog, sleep, uniq, type FakeQueue } from "./pipeline-helpers";
import { endpointSnapshot } from "./tenant-log-helpers";

/** Sized for a loaded 2-core CI run, not for one file alone. */
const TIMEOUT = 30_000;

type Stub = ReturnType<Env["TENANT_LOG"]["getByName"]>;

let lastSeq = 0;
/**
 * A tenant seq no other test uses (the TenantLog is named by it, as in production), within
 * the range an id can embed (domain/ids: 32^7) and far above D1's own tenant seqs.
 */
function tenantSeq(): number {
  lastSeq = Math.max(lastSeq + 1, 1_000_000_000 + (Date.now() % 1_000_000_000));
  return lastSeq;
}

interface Tenant {
  t: number;
  log: Stub;
}

interface Endpoint {
  id: string;
  secret: string;
  ordinal: number;
  path: string;
}

async function tenantLog(): Promise<Tenant> {
  const t = tenantSeq();
  return { t, log: env.TENANT_LOG.getByName(String(t)) };
}

/** An endpoint in D1 (through the API) and in the tenant's log (synced by hand, as the API will). */
async function endpoint(tenant: Tenant, path: string, body: Record<string, unknown> = {}): Promise<Endpoint> {
  const tid = await newTenant("cons");
  const created = await newEndpoint(tid, { url: `${receiver()}${path}`, ...body });
  const ordinal = await tenant.log.syncEndpoint(endpointSnapshot(created.id));
  return { id: created.id, secret: created.secret, ordinal, path };
}

let n = 0;
/** Ingests one event and answers the messages its TenantLog would send. */
async function ingest(tenant: Tenant, data: unknown = {}): Promise<{ e: number; id: string; messages: LogDeliverMessage[] }> {
  n += 1;
  const r = await tenant.log.ingest({
    tenantSeq: tenant.t,
    id: uniq("evt"),
    type: "consumer.tested",
    group: null,
    dataJson: JSON.stringify(data),
    occurredAt: null,
    idemKey: null,
    bodyHash: `hash-${n}`,
    now: Date.now(),
    fullBytes: 9 * 1024 ** 3,
  });
  if (r.kind !== "accepted") throw new Error(`ingest answered ${r.kind}`);
  return { e: r.event.seq, id: r.event.id, messages: r.jobs.map((job) => message(tenant.t, job)) };
}

const message = (t: number, job: DeliveryJob): LogDeliverMessage => ({ kind: "deliver", t, e: job.e, p: job.p, g: job.g });

interface Calls {
  claims: Map<string, number>;
  records: Map<string, number>;
}

interface Faults {
  /** Tenant logs (by name) whose claim throws. */
  claimThrows?: string[];
  /** Tenant logs (by name) whose first record throws before it reaches the object. */
  recordThrowsOnce?: string[];
}

/** The real TenantLog namespace, counting claim and record per object and failing them on request. */
function countingLogs(faults: Faults = {}): { namespace: Env["TENANT_LOG"]; calls: Calls } {
  const calls: Calls = { claims: new Map(), records: new Map() };
  const bump = (m: Map<string, number>, name: string) => m.set(name, (m.get(name) ?? 0) + 1);
  const namespace = {
    getByName(name: string) {
      const stub = env.TENANT_LOG.getByName(name);
      return {
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
    },
  } as unknown as Env["TENANT_LOG"];
  return { namespace, calls };
}

/** The Worker's env with a fake delivery queue and the given TenantLog namespace (never assigned onto `env`). */
function consumerEnv(options: { queue?: FakeQueue; logs?: Env["TENANT_LOG"]; vars?: Partial<Env> } = {}): { env: Env; queue: FakeQueue } {
  const queue = options.queue ?? fakeQueue();
  const overrides: Record<string, unknown> = { DELIVERY_QUEUE: queue.queue, TENANT_LOG: options.logs ?? env.TENANT_LOG, ...options.vars };
  const props = Object.fromEntries(Object.entries(overrides).map(([k, value]) => [k, { value, enumerable: true }]));
  return { env: Object.create(env, props) as Env, queue };
}

async function run(messages: LogDeliverMessage[], consumer: Env) {
  const fake = fakeBatch<LogDeliverMessage>("switchyard-deliveries", messages.map((body) => ({ body })));
  await handleLogDeliveryBatch(fake.batch, consumer);
  const ids = fake.batch.messages.map((m) => m.id);
  return { ...fake, ids };
}

/** The deliver messages the fake queue received. */
const sentMessages = (q: FakeQueue) => q.sent.map((m) => ({ ...(m.body as LogDeliverMessage), delaySeconds: m.delaySeconds }));

const verify = (secret: string, r: Recorded) => new Webhook(secret).verify(r.body, r.headers);

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
    },
    TIMEOUT,
  );

  it(
    "one invocation sends at most 6 requests at once and at most 2 to one endpoint",
    async () => {
      const tenant = await tenantLog();
      const key = uniq("lanes");
      const eps = [];
      for (let i = 0; i < 4; i++) eps.push(await endpoint(tenant, `/slow/300/${key}/${i}`));
      const messages: LogDeliverMessage[] = [];
      for (let i = 0; i < 4; i++) messages.push(...(await ingest(tenant)).messages);
      const { env: consumer } = consumerEnv();

      const { acked, ids } = await run(messages, consumer);

      expect(new Set(acked)).toEqual(new Set(ids));
      const got = await receiverLog(`/slow/300/${key}/`);
      expect(got).toHaveLength(16);
      // In flight at a request's start: those started before it whose 300 ms answer was not yet due.
      const busiest = (rs: Recorded[]) => Math.max(...rs.map((r) => rs.filter((o) => o.startAt <= r.startAt && o.startAt + 300 > r.startAt).length));
      expect(busiest(got)).toBeLessThanOrEqual(6);
      for (const ep of eps) expect(busiest(got.filter((r) => r.path === ep.path))).toBeLessThanOrEqual(2);
    },
    TIMEOUT,
  );
});
