/**
 * The data plane v2 deliveries DLQ (src/consumers/dead-letters.ts) against the real TenantLog,
 * real D1 tenants and endpoints made through the API and the real receiver; the delivery
 * queue is a fake that records what is sent, and the TenantLog namespace is wrapped to count
 * (and fail) calls. A message here has failed the delivery consumer `max_retries` times for
 * our own trouble: it is re-driven with a trouble record, and only after CONSUMER_GIVE_UP_H
 * in trouble is its delivery given up (`consumer_error`, a dead letter naming the queue).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { handleLogDeliveryBatch } from "../../src/consumers/deliveries";
import { handleLogDeliveryDeadLetters } from "../../src/consumers/dead-letters";
import { logDeliveryId } from "../../src/domain/ids";
import type { LogDeliverMessage } from "../../src/tenant-log/types";
import { fakeBatch, ingest, operator, endpoint, tenantLog, type Tenant } from "./consumer-helpers";
import { call, fakeQueue, receiverLog, uniq, waitFor, type FakeQueue } from "./pipeline-helpers";

/** Sized for a loaded 2-core CI run, not for one file alone. */
const TIMEOUT = 30_000;
const HOUR_MS = 3_600_000;

type Stub = ReturnType<Env["TENANT_LOG"]["getByName"]>;

// ---------------------------------------------------------------------------
// Helpers of the consumer tests (the basic ones are in ./pipeline-helpers)


interface Calls {
  opened: Map<string, number>;
  giveUps: Map<string, number>;
}

/** The real TenantLog namespace, counting objects addressed and giveUp calls; giveUp throws for the names listed. */
function countingLogs(giveUpThrows: string[] = []): { namespace: Env["TENANT_LOG"]; calls: Calls } {
  const calls: Calls = { opened: new Map(), giveUps: new Map() };
  const bump = (m: Map<string, number>, name: string) => m.set(name, (m.get(name) ?? 0) + 1);
  const namespace = {
    getByName(name: string) {
      bump(calls.opened, name);
      const stub = env.TENANT_LOG.getByName(name);
      const wrapped = {
        giveUp: (...args: Parameters<Stub["giveUp"]>) => {
          bump(calls.giveUps, name);
          if (giveUpThrows.includes(name)) return Promise.reject(new Error("TenantLog overloaded (fake)"));
          return stub.giveUp(...args);
        },
      };
      return new Proxy(wrapped, { get: (target, prop) => (prop in target ? target[prop as keyof typeof target] : (stub as unknown as Record<string | symbol, unknown>)[prop]) });
    },
  } as unknown as Env["TENANT_LOG"];
  return { namespace, calls };
}

/** The Worker's env with a fake delivery queue and the given TenantLog namespace (never assigned onto `env`). */
function consumerEnv(options: { queue?: FakeQueue; logs?: Env["TENANT_LOG"]; vars?: Record<string, string> } = {}): { env: Env; queue: FakeQueue } {
  const queue = options.queue ?? fakeQueue();
  const overrides: Record<string, unknown> = { DELIVERY_QUEUE: queue.queue, TENANT_LOG: options.logs ?? env.TENANT_LOG, ...options.vars };
  const props = Object.fromEntries(Object.entries(overrides).map(([k, value]) => [k, { value, enumerable: true }]));
  return { env: Object.create(env, props) as Env, queue };
}

/** Runs the DLQ consumer over these bodies. */
async function runDlq(bodies: unknown[], consumer: Env) {
  const fake = fakeBatch<LogDeliverMessage>("switchyard-deliveries-dlq", bodies as LogDeliverMessage[]);
  await handleLogDeliveryDeadLetters(fake.batch, consumer);
  return { ...fake, ids: fake.batch.messages.map((m) => m.id) };
}

/** Runs the delivery consumer over these bodies (to make a delivery pending with a row). */
async function runDeliveries(bodies: LogDeliverMessage[], consumer: Env) {
  const fake = fakeBatch<LogDeliverMessage>("switchyard-deliveries", bodies);
  await handleLogDeliveryBatch(fake.batch, consumer);
  return fake;
}

const sent = (q: FakeQueue) => q.sent.map((m) => ({ body: m.body as LogDeliverMessage & { trouble?: { since: number; redrives: number } }, delaySeconds: m.delaySeconds }));

interface DeadLetterDbRow {
  tenant_id: string;
  endpoint_id: string;
  event_id: string;
  reason: string;
  attempts: number;
  last_response_status: number | null;
  queue: string | null;
}

/** The D1 dead letter of a log delivery, once the TenantLog's alarm has flushed its outbox. */
async function deadLetter(tenant: Tenant, e: number, ordinal: number): Promise<DeadLetterDbRow> {
  return waitFor(`the dead letter of ${tenant.t}/${e}/${ordinal} in D1`, () =>
    env.DB.prepare(`SELECT tenant_id, endpoint_id, event_id, reason, attempts, last_response_status, queue FROM dead_letters WHERE tenant_seq = ? AND log_event_seq = ? AND endpoint_ordinal = ?`)
      .bind(tenant.t, e, ordinal)
      .first<DeadLetterDbRow>(),
  );
}


describe("the deliveries DLQ (data plane v2): re-drive", () => {
  it(
    "a message's first re-drive goes back to the delivery queue with a trouble record starting now and a delay of about 60 s, then is acked",
    async () => {
      const tenant = await tenantLog();
      await endpoint(tenant, `/ok/${uniq("first-redrive")}`);
      const ev = await ingest(tenant);
      const { namespace, calls } = countingLogs();
      const { env: consumer, queue } = consumerEnv({ logs: namespace });

      const before = Date.now();
      const { acked, retried, ids } = await runDlq(ev.messages, consumer);

      expect([...acked]).toEqual(ids);
      expect(retried.size).toBe(0);
      const [redriven, ...others] = sent(queue);
      expect(others).toEqual([]);
      expect(redriven!.body).toMatchObject({ ...ev.messages[0], trouble: { redrives: 1 } });
      expect(redriven!.body.trouble!.since).toBeGreaterThanOrEqual(before);
      expect(redriven!.body.trouble!.since).toBeLessThanOrEqual(Date.now());
      expect(redriven!.delaySeconds).toBeGreaterThanOrEqual(48);
      expect(redriven!.delaySeconds).toBeLessThanOrEqual(72);
      // A re-drive needs nothing from the log: the delivery is still pending there, untouched.
      expect(calls.opened.get(String(tenant.t))).toBeUndefined();
      const d = await tenant.log.getEvent(ev.e);
      expect(d!.deliveries).toEqual([expect.objectContaining({ status: "pending", attempts: 0 })]);
    },
    TIMEOUT,
  );

  it(
    "later re-drives keep when the trouble began, count up, and double the delay up to an hour",
    async () => {
      const tenant = await tenantLog();
      await endpoint(tenant, `/ok/${uniq("later-redrive")}`);
      const ev = await ingest(tenant);
      const since = Date.now() - 5 * HOUR_MS;
      const { env: consumer, queue } = consumerEnv();

      const { acked, ids } = await runDlq(
        [
          { ...ev.messages[0]!, trouble: { since, redrives: 3 } },
          { ...ev.messages[0]!, trouble: { since, redrives: 10 } },
        ],
        consumer,
      );

      expect(new Set(acked)).toEqual(new Set(ids));
      const [third, capped] = sent(queue);
      expect(third!.body.trouble).toEqual({ since, redrives: 4 });
      expect(third!.delaySeconds).toBeGreaterThanOrEqual(Math.floor(480 * 0.8));
      expect(third!.delaySeconds).toBeLessThanOrEqual(Math.ceil(480 * 1.2));
      expect(capped!.body.trouble).toEqual({ since, redrives: 11 });
      expect(capped!.delaySeconds).toBeGreaterThanOrEqual(3600 * 0.8);
      expect(capped!.delaySeconds).toBeLessThanOrEqual(3600 * 1.2);
      // Inside the window: nothing was given up.
      expect((await tenant.log.getEvent(ev.e))!.deliveries).toEqual([expect.objectContaining({ status: "pending" })]);
    },
    TIMEOUT,
  );

  it(
    "a re-drive whose send fails is retried by the DLQ with backoff: never acked, never lost",
    async () => {
      const tenant = await tenantLog();
      await endpoint(tenant, `/ok/${uniq("refused-redrive")}`);
      const ev = await ingest(tenant);
      const { env: consumer, queue } = consumerEnv();
      queue.refuse = true;

      const { acked, retried, retryDelays, ids } = await runDlq(ev.messages, consumer);

      expect(acked.size).toBe(0);
      expect(retried).toEqual(new Set(ids));
      for (const id of ids) expect(retryDelays.get(id)).toBeGreaterThanOrEqual(1);
      expect((await tenant.log.getEvent(ev.e))!.deliveries).toEqual([expect.objectContaining({ status: "pending", attempts: 0 })]);
    },
    TIMEOUT,
  );

  it(
    "messages naming a deleted tenant are dropped without addressing its TenantLog, even past the give-up window",
    async () => {
      const tenant = await tenantLog();
      await endpoint(tenant, `/ok/${uniq("deleted-dlq")}`);
      const ev = await ingest(tenant);
      expect((await call("DELETE", `/v1/tenants/${tenant.id}`)).status).toBe(202);
      const { namespace, calls } = countingLogs();
      const { env: consumer, queue } = consumerEnv({ logs: namespace });

      const { acked, retried, ids } = await runDlq(
        [ev.messages[0]!, { ...ev.messages[0]!, trouble: { since: Date.now() - 100 * HOUR_MS, redrives: 40 } }],
        consumer,
      );

      expect(new Set(acked)).toEqual(new Set(ids));
      expect(retried.size).toBe(0);
      expect(calls.opened.size).toBe(0);
      expect(queue.sent).toEqual([]);
    },
    TIMEOUT,
  );

  it(
    "another message of the deliveries queue (a bulk replay's continuation) is re-driven, never given up",
    async () => {
      const { env: consumer, queue } = consumerEnv();
      const replay = { kind: "replay-dead-letters", tenantId: null, endpointId: null, since: null, until: Date.now(), after: 0, trouble: { since: Date.now() - 100 * HOUR_MS, redrives: 50 } };

      const { acked, ids } = await runDlq([replay], consumer);

      expect([...acked]).toEqual(ids);
      const [redriven] = sent(queue);
      expect(redriven!.body).toEqual({ ...replay, trouble: { since: replay.trouble.since, redrives: 51 } });
      expect(redriven!.delaySeconds).toBeGreaterThanOrEqual(3600 * 0.8);
    },
    TIMEOUT,
  );
});

describe("the deliveries DLQ (data plane v2): giving up after CONSUMER_GIVE_UP_H", () => {
  it(
    "past the window, one giveUp per tenant fails each named delivery consumer_error, keeps a D1 dead letter naming the deliveries queue, reports it to _operator, and acks",
    async () => {
      const tenant = await tenantLog();
      const untriedEp = await endpoint(tenant, `/ok/${uniq("give-up-untried")}`, { filter: { types: ["giveup.untried"] } });
      const retryingEp = await endpoint(tenant, `/status/500/${uniq("give-up-retrying")}`, { filter: { types: ["giveup.retrying"] }, retry_schedule: [600] });
      const untried = await ingest(tenant, {}, "giveup.untried");
      const retrying = await ingest(tenant, {}, "giveup.retrying");
      const { env: consumer, queue } = consumerEnv();
      // One attempt made (500), its retry due in 600 s: pending at generation 0 with a row.
      await runDeliveries(retrying.messages, consumer);
      expect(await tenant.log.getDelivery(retryingEp.ordinal, retrying.e)).toMatchObject({ status: "pending", attempts: 1, responseStatus: 500 });
      queue.sent.length = 0;
      const { namespace, calls } = countingLogs();
      const { env: dlq, queue: dlqQueue } = consumerEnv({ logs: namespace });
      const trouble = { since: Date.now() - 72 * HOUR_MS - 1000, redrives: 30 };

      const { acked, retried, ids } = await runDlq(
        [...untried.messages, ...retrying.messages].map((m) => ({ ...m, trouble })),
        dlq,
      );

      expect(new Set(acked)).toEqual(new Set(ids));
      expect(retried.size).toBe(0);
      expect(calls.giveUps.get(String(tenant.t))).toBe(1);
      expect(dlqQueue.sent).toEqual([]); // nothing re-driven, no FIFO line to release
      expect(await tenant.log.getDelivery(untriedEp.ordinal, untried.e)).toMatchObject({ status: "failed", reason: "consumer_error", attempts: 0 });
      expect(await tenant.log.getDelivery(retryingEp.ordinal, retrying.e)).toMatchObject({ status: "failed", reason: "consumer_error", attempts: 1 });
      // Giving up sends nothing: the receiver saw only the one 500 attempt.
      expect(await receiverLog(untriedEp.path)).toEqual([]);
      expect(await receiverLog(retryingEp.path)).toHaveLength(1);

      const dlUntried = await deadLetter(tenant, untried.e, untriedEp.ordinal);
      expect(dlUntried).toMatchObject({ tenant_id: tenant.id, endpoint_id: untriedEp.id, event_id: untried.id, reason: "consumer_error", attempts: 0, queue: "deliveries" });
      const dlRetrying = await deadLetter(tenant, retrying.e, retryingEp.ordinal);
      expect(dlRetrying).toMatchObject({ tenant_id: tenant.id, endpoint_id: retryingEp.id, reason: "consumer_error", attempts: 1, last_response_status: 500, queue: "deliveries" });

      // The failure is also a switchyard.delivery.failed in _operator's log.
      const op = await operator();
      const deliveryId = logDeliveryId({ createdAt: (await tenant.log.getEvent(retrying.e))!.createdAt, tenantSeq: tenant.t, eventSeq: retrying.e, ordinal: retryingEp.ordinal });
      const seq = await waitFor("switchyard.delivery.failed in _operator's log", () => op.log.findEventSeq(`${deliveryId}_0`));
      const reported = await op.log.getEvent(seq);
      expect(reported!.type).toBe("switchyard.delivery.failed");
      expect(JSON.parse(reported!.dataJson)).toMatchObject({ tenant_id: tenant.id, endpoint_id: retryingEp.id, delivery_id: deliveryId, event_id: retrying.id, reason: "consumer_error", attempts: 1, last_response_status: 500 });
    },
    TIMEOUT,
  );

  it(
    "the window is CONSUMER_GIVE_UP_H: just inside it the message is re-driven, just past it the delivery is given up",
    async () => {
      const tenant = await tenantLog();
      const ep = await endpoint(tenant, `/ok/${uniq("window")}`);
      const inside = await ingest(tenant);
      const past = await ingest(tenant);
      const { env: consumer, queue } = consumerEnv({ vars: { CONSUMER_GIVE_UP_H: "2" } });
      const now = Date.now();

      const { acked, ids } = await runDlq(
        [
          { ...inside.messages[0]!, trouble: { since: now - 2 * HOUR_MS + 60_000, redrives: 8 } },
          { ...past.messages[0]!, trouble: { since: now - 2 * HOUR_MS - 1000, redrives: 9 } },
        ],
        consumer,
      );

      expect(new Set(acked)).toEqual(new Set(ids));
      expect(sent(queue).map((m) => m.body.e)).toEqual([inside.e]);
      expect(await tenant.log.getDelivery(ep.ordinal, inside.e)).toMatchObject({ status: "pending", attempts: 0 });
      expect(await tenant.log.getDelivery(ep.ordinal, past.e)).toMatchObject({ status: "failed", reason: "consumer_error" });
    },
    TIMEOUT,
  );

  it(
    "giving up a FIFO head releases the next delivery in line: it is enqueued before the ack, and then delivered",
    async () => {
      const tenant = await tenantLog();
      const ep = await endpoint(tenant, `/ok/${uniq("fifo-give-up")}`, { ordering: "fifo" });
      const head = await ingest(tenant, { n: 1 });
      const next = await ingest(tenant, { n: 2 });
      expect(next.messages).toEqual([]); // parked behind the head
      const { env: consumer, queue } = consumerEnv();

      const { acked, ids } = await runDlq(head.messages.map((m) => ({ ...m, trouble: { since: Date.now() - 73 * HOUR_MS, redrives: 30 } })), consumer);

      expect([...acked]).toEqual(ids);
      expect(await tenant.log.getDelivery(ep.ordinal, head.e)).toMatchObject({ status: "failed", reason: "consumer_error" });
      const [released, ...others] = sent(queue);
      expect(others).toEqual([]);
      expect(released!.body).toMatchObject({ kind: "deliver", t: tenant.t, e: next.e, p: [ep.ordinal] });
      expect(released!.body.trouble).toBeUndefined();
      expect(released!.delaySeconds ?? 0).toBe(0);

      await runDeliveries([released!.body], consumer);
      expect(await tenant.log.getDelivery(ep.ordinal, next.e)).toMatchObject({ status: "delivered", attempts: 1 });
      const got = await receiverLog(ep.path);
      expect(got.map((r) => JSON.parse(r.body).data)).toEqual([{ n: 2 }]);
    },
    TIMEOUT,
  );

  it(
    "a stale message past the window (its delivery already delivered) fails nothing and is acked",
    async () => {
      const tenant = await tenantLog();
      const ep = await endpoint(tenant, `/ok/${uniq("stale-give-up")}`);
      const ev = await ingest(tenant);
      const { env: consumer } = consumerEnv();
      await runDeliveries(ev.messages, consumer);

      const { acked, ids } = await runDlq(ev.messages.map((m) => ({ ...m, trouble: { since: Date.now() - 80 * HOUR_MS, redrives: 30 } })), consumer);

      expect([...acked]).toEqual(ids);
      expect(await tenant.log.getDelivery(ep.ordinal, ev.e)).toMatchObject({ status: "delivered", attempts: 1 });
    },
    TIMEOUT,
  );

  it(
    "a giveUp that throws (our own trouble) retries that tenant's messages with backoff; another tenant in the batch is given up",
    async () => {
      const broken = await tenantLog();
      const fine = await tenantLog();
      const epBroken = await endpoint(broken, `/ok/${uniq("give-up-broken")}`);
      const epFine = await endpoint(fine, `/ok/${uniq("give-up-fine")}`);
      const b = await ingest(broken);
      const f = await ingest(fine);
      const { namespace } = countingLogs([String(broken.t)]);
      const { env: consumer } = consumerEnv({ logs: namespace });
      const trouble = { since: Date.now() - 73 * HOUR_MS, redrives: 30 };

      const { batch, acked, retried, retryDelays } = await runDlq([{ ...b.messages[0]!, trouble }, { ...f.messages[0]!, trouble }], consumer);

      const [mBroken, mFine] = batch.messages.map((m) => m.id) as [string, string];
      expect(retried).toEqual(new Set([mBroken]));
      expect(retryDelays.get(mBroken)).toBeGreaterThanOrEqual(1);
      expect(acked).toEqual(new Set([mFine]));
      expect(await broken.log.getDelivery(epBroken.ordinal, b.e)).toMatchObject({ status: "pending", attempts: 0 });
      expect(await fine.log.getDelivery(epFine.ordinal, f.e)).toMatchObject({ status: "failed", reason: "consumer_error" });
    },
    TIMEOUT,
  );
});
