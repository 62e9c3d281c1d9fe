/**
 * Ingest → delivery (data plane v2) with real D1, the tenant's real TenantLog, the real
 * consumer and the real receiver: filter matching at ingest (one TenantLog call stores the
 * event and answers its delivery jobs), repeated ingests of a keyed event, duplicate and
 * stale delivery messages, and a consumer that fails on one message.
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { describe, expect, it, vi } from "vitest";
import { syncEndpoint } from "../../src/core/tenant-logs";
import { findEndpointById } from "../../src/db/queries/endpoints";
import { openDb } from "../../src/db/client";
import { parseLogDeliveryId } from "../../src/domain/ids";
import type { LogDeliverMessage } from "../../src/tenant-log/types";
import {
  call,
  consume,
  deadLettersOf,
  deliverMessages,
  deliveriesOfEndpoint,
  deliveryDetail,
  ensureType,
  fakeQueue,
  ingest,
  logOf,
  newEndpoint,
  newTenant,
  operatorEvents,
  qmsg,
  receiver,
  receiverLog,
  runQueue,
  sleep,
  takeDeliverMessages,
  tenantSeqOf,
  testDeps,
  uniq,
  waitFor,
  type DeliveryItem,
} from "./pipeline-helpers";

vi.setConfig({ testTimeout: 45_000 });

/** The (event seq, endpoint ordinal) a delivery id names. */
function keyOf(d: Pick<DeliveryItem, "id">): { e: number; ordinal: number } {
  const key = parseLogDeliveryId(d.id);
  if (!key) throw new Error(`not a delivery id: ${d.id}`);
  return { e: key.eventSeq, ordinal: key.ordinal };
}

/** A deliver message for one delivery at a generation, as the log's jobs are sent. */
const deliverOf = (t: number, e: number, ordinals: number[], g: number): LogDeliverMessage => ({ kind: "deliver", t, e, p: ordinals, g });

/** A message body as the queue carries it (without the fake's `delaySeconds`). */
const bodyOf = ({ delaySeconds: _d, ...m }: LogDeliverMessage & { delaySeconds?: number }): LogDeliverMessage => m;

describe("ingest → delivery", () => {
  it("an event posted over HTTP reaches every subscribed endpoint once, signed with its own secret", async () => {
    const tid = await newTenant("flow");
    await ensureType("flow.report.completed");
    const key = uniq("flow");
    const a = await newEndpoint(tid, { url: `${receiver()}/ok/${key}/a` });
    const b = await newEndpoint(tid, { url: `${receiver()}/ok/${key}/b` });

    const posted = await call("POST", `/v1/tenants/${tid}/events`, { type: "flow.report.completed", data: { report: 7, name: "ü" }, occurred_at: "2026-01-02T03:04:05Z" });
    expect(posted.status).toBe(202);
    const eventId = posted.body.id as string;

    // The real queue and consumer run on their own: wait for the log to say delivered.
    for (const ep of [a, b]) {
      await waitFor(`delivery to ${ep.id}`, async () => (await deliveriesOfEndpoint(tid, ep.id)).find((d) => d.status === "delivered"), 20_000);
    }
    for (const [ep, path] of [
      [a, `/ok/${key}/a`],
      [b, `/ok/${key}/b`],
    ] as const) {
      const log = await receiverLog(path);
      expect(log).toHaveLength(1);
      const req = log[0]!;
      expect(req.method).toBe("POST");
      expect(req.headers["content-type"]).toBe("application/json");
      expect(req.headers["user-agent"]).toMatch(/^Switchyard\//);
      expect(req.headers["webhook-id"]).toBe(eventId);
      expect(req.headers["webhook-attempt"]).toBe("1");
      expect(JSON.parse(req.body)).toEqual({ id: eventId, type: "flow.report.completed", timestamp: "2026-01-02T03:04:05.000Z", data: { report: 7, name: "ü" } });
      // Verifiable with the public Standard Webhooks library, with this endpoint's secret only.
      expect(() => new Webhook(ep.secret).verify(req.body, req.headers)).not.toThrow();
      const other = ep === a ? b : a;
      expect(() => new Webhook(other.secret).verify(req.body, req.headers)).toThrow();
      const rows = await deliveriesOfEndpoint(tid, ep.id);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ event_id: eventId, status: "delivered", attempts: 1, reason: null, next_attempt_at: null, response_status: 200 });
      // The log kept the attempt, and the request body it shows is the exact string sent.
      const detail = await deliveryDetail(tid, rows[0]!.id);
      expect(detail.attempts.map((x) => [x.n, x.response_status])).toEqual([[1, 200]]);
      expect(detail.request.body).toBe(req.body);
    }
    const detail = await call("GET", `/v1/tenants/${tid}/events/${eventId}`);
    expect(detail.status).toBe(200);
    expect((detail.body.deliveries as { endpoint_id: string; status: string; attempts: number }[]).map((d) => [d.endpoint_id, d.status, d.attempts]).sort()).toEqual(
      [
        [a.id, "delivered", 1],
        [b.id, "delivered", 1],
      ].sort(),
    );
  });
});

describe("matching at ingest", () => {
  it("applies exact, wildcard, star, group and exclude filters; skips paused endpoints; records disabled ones as failed without an attempt", async () => {
    const tid = await newTenant("match");
    const tenantSeq = await tenantSeqOf(tid);
    await ensureType("fm.order.created", "orders");
    await ensureType("fm.order.deleted", "orders");
    await ensureType("fm.order.item.added", "orders");
    await ensureType("fm.user.created");
    await ensureType("fm.misc.thing", "misc");
    const url = (name: string) => `${receiver()}/ok/${uniq("match")}/${name}`;
    const exact = await newEndpoint(tid, { url: url("exact"), filter: { types: ["fm.order.created"] } });
    const wildcard = await newEndpoint(tid, { url: url("wild"), filter: { types: ["fm.order.*"] } });
    const deep = await newEndpoint(tid, { url: url("deep"), filter: { types: ["fm.*"], exclude: ["fm.order.*"] } });
    const star = await newEndpoint(tid, { url: url("star"), filter: { types: ["*"], exclude: ["fm.order.deleted"] } });
    const group = await newEndpoint(tid, { url: url("group"), filter: { groups: ["orders"], types: ["fm.user.created"] } });
    const groupExcl = await newEndpoint(tid, { url: url("gx"), filter: { groups: ["orders"], exclude: ["fm.order.item.added"] } });
    const all = await newEndpoint(tid, { url: url("all") });
    const paused = await newEndpoint(tid, { url: url("paused"), status: "paused" });
    const disabled = await newEndpoint(tid, { url: url("disabled"), filter: { types: ["fm.order.created", "fm.user.created"] } });
    // Disabled as auto-disable does it: D1 first (a new version), then the log's snapshot.
    await env.DB.prepare(`UPDATE endpoints SET status = 'disabled', disabled_reason = 'test', version = version + 1 WHERE id = ?`).bind(disabled.id).run();
    await syncEndpoint({ env }, tenantSeq, (await findEndpointById(openDb(env.DB), disabled.id))!);

    const t = testDeps();
    const types = ["fm.order.created", "fm.order.deleted", "fm.order.item.added", "fm.user.created", "fm.misc.thing"];
    const events: Record<string, number> = {};
    for (const type of types) events[type] = (await ingest(t.deps, tid, type, { type })).seq;

    const got = async (ep: { id: string }) => (await deliveriesOfEndpoint(tid, ep.id)).map((r) => r.event_type).sort();
    expect(await got(exact)).toEqual(["fm.order.created"]);
    expect(await got(wildcard)).toEqual(["fm.order.created", "fm.order.deleted", "fm.order.item.added"]);
    expect(await got(deep)).toEqual(["fm.misc.thing", "fm.user.created"]);
    expect(await got(star)).toEqual(["fm.misc.thing", "fm.order.created", "fm.order.item.added", "fm.user.created"]);
    expect(await got(group)).toEqual(["fm.order.created", "fm.order.deleted", "fm.order.item.added", "fm.user.created"]);
    expect(await got(groupExcl)).toEqual(["fm.order.created", "fm.order.deleted"]);
    expect(await got(all)).toEqual([...types].sort());
    expect(await got(paused)).toEqual([]);

    // Disabled: a failed delivery (endpoint_disabled, no attempt), never sent. It keeps no
    // dead letter and emits no operational event (DESIGN.md "Dead letters": no floods) —
    // checked after the log's alarm has flushed its outbox.
    const dis = await deliveriesOfEndpoint(tid, disabled.id);
    expect(dis.map((d) => d.event_type).sort()).toEqual(["fm.order.created", "fm.user.created"]);
    await runDurableObjectAlarm(await logOf(tid));
    for (const d of dis) {
      expect(d).toMatchObject({ status: "failed", reason: "endpoint_disabled", attempts: 0, next_attempt_at: null });
      expect((await deliveryDetail(tid, d.id)).attempts).toEqual([]);
      expect(await deadLettersOf({ deliveryId: d.id })).toEqual([]);
    }
    expect(await deadLettersOf({ endpointId: disabled.id })).toEqual([]);
    expect(await operatorEvents("switchyard.delivery.failed", "endpoint_id", disabled.id)).toEqual([]);

    // Every untried delivery is named by exactly one message of its event, at generation 0
    // and at most six endpoints a message; the disabled and paused endpoints by none.
    const msgs = deliverMessages(t.delivery);
    const named: string[] = [];
    for (const m of msgs) {
      expect(m).toMatchObject({ kind: "deliver", t: tenantSeq, g: 0 });
      expect(m.p.length).toBeGreaterThan(0);
      expect(m.p.length).toBeLessThanOrEqual(6);
      expect(m.delaySeconds).toBeUndefined();
      for (const ordinal of m.p) named.push(`${m.e}:${ordinal}`);
    }
    const untried: string[] = [];
    for (const ep of [exact, wildcard, deep, star, group, groupExcl, all]) {
      for (const d of await deliveriesOfEndpoint(tid, ep.id)) {
        expect(d).toMatchObject({ status: "pending", attempts: 0, reason: null, last_attempt_at: null });
        const { e, ordinal } = keyOf(d);
        untried.push(`${e}:${ordinal}`);
      }
    }
    expect(named.sort()).toEqual(untried.sort());
    expect(new Set(named).size).toBe(named.length);
    expect(new Set(msgs.map((m) => m.e))).toEqual(new Set(Object.values(events)));
  });

  it("a repeated ingest of a keyed event creates no second delivery and re-sends only the deliveries still untried, at a new generation (the first messages go stale)", async () => {
    const tid = await newTenant("dupingest");
    const tenantSeq = await tenantSeqOf(tid);
    await ensureType("dup.ingest.keyed");
    const key = uniq("dupingest");
    const e1 = await newEndpoint(tid, { url: `${receiver()}/ok/${key}/1` });
    const e2 = await newEndpoint(tid, { url: `${receiver()}/ok/${key}/2` });
    const t = testDeps();
    const pairs = (ms: LogDeliverMessage[]) => ms.flatMap((m) => m.p.map((o) => `${m.e}:${o}:${m.g}`)).sort();

    // A repeat (its answer was lost) is the same event and re-sends the still-untried
    // deliveries at a new generation: the first messages, still queued, go stale.
    const idemKey = uniq("k");
    const ev = await ingest(t.deps, tid, "dup.ingest.keyed", { n: 1 }, { key: idemKey });
    const first = takeDeliverMessages(t.delivery);
    const [d1] = await deliveriesOfEndpoint(tid, e1.id);
    const [d2] = await deliveriesOfEndpoint(tid, e2.id);
    expect(pairs(first)).toEqual([`${ev.seq}:${keyOf(d1!).ordinal}:0`, `${ev.seq}:${keyOf(d2!).ordinal}:0`].sort());
    expect(await ingest(t.deps, tid, "dup.ingest.keyed", { n: 1 }, { key: idemKey })).toEqual(ev);
    const resent = takeDeliverMessages(t.delivery);
    expect(pairs(resent)).toEqual([`${ev.seq}:${keyOf(d1!).ordinal}:1`, `${ev.seq}:${keyOf(d2!).ordinal}:1`].sort());
    await consume(t, first.map(bodyOf));
    expect(await receiverLog(`/ok/${key}/`)).toHaveLength(0);
    await consume(t, resent.map(bodyOf));
    expect(await receiverLog(`/ok/${key}/1`)).toHaveLength(1);
    expect(await receiverLog(`/ok/${key}/2`)).toHaveLength(1);
    // Three repeats racing in parallel once it was sent: still the one event, and no message.
    takeDeliverMessages(t.delivery);
    for (const r of await Promise.all([1, 2, 3].map(() => ingest(t.deps, tid, "dup.ingest.keyed", { n: 1 }, { key: idemKey })))) expect(r).toEqual(ev);
    expect(t.delivery.sent).toEqual([]);
    expect(await deliveriesOfEndpoint(tid, e1.id)).toHaveLength(1);
    expect(await deliveriesOfEndpoint(tid, e2.id)).toHaveLength(1);

    // Its first send refused (503): the keyed event stays, owed to the queue.
    const refusedKey = uniq("k");
    const refusing = testDeps({ delivery: fakeQueue(true) });
    await expect(ingest(refusing.deps, tid, "dup.ingest.keyed", { n: 2 }, { key: refusedKey })).rejects.toMatchObject({ status: 503 });
    const owedRows = (await deliveriesOfEndpoint(tid, e1.id)).concat(await deliveriesOfEndpoint(tid, e2.id)).filter((d) => d.id !== d1!.id && d.id !== d2!.id);
    expect(owedRows.map((d) => d.status)).toEqual(["pending", "pending"]);
    const owedSeq = keyOf(owedRows[0]!).e;
    // Meanwhile e1's delivery was made (here by a message run by hand).
    await consume(t, [deliverOf(tenantSeq, owedSeq, [keyOf(owedRows[0]!).ordinal], 0)]);
    expect(await receiverLog(`/ok/${key}/1`)).toHaveLength(2);
    // The client's repeat re-sends only e2's, still untried; no delivery is created.
    const repeat = await ingest(t.deps, tid, "dup.ingest.keyed", { n: 2 }, { key: refusedKey });
    expect(repeat.seq).toBe(owedSeq);
    const owed = takeDeliverMessages(t.delivery).map(bodyOf);
    expect(owed).toEqual([deliverOf(tenantSeq, owedSeq, [keyOf(owedRows[1]!).ordinal], 1)]);
    // Delivered now, it is owed no more: a further repeat sends nothing.
    await consume(t, owed);
    takeDeliverMessages(t.delivery);
    await ingest(t.deps, tid, "dup.ingest.keyed", { n: 2 }, { key: refusedKey });
    expect(t.delivery.sent).toEqual([]);
    expect(await deliveriesOfEndpoint(tid, e1.id)).toHaveLength(2);
    expect(await deliveriesOfEndpoint(tid, e2.id)).toHaveLength(2);
    expect(await receiverLog(`/ok/${key}/1`)).toHaveLength(2);
    expect(await receiverLog(`/ok/${key}/2`)).toHaveLength(2);
  });

  it("copies of the message a repeated ingest re-sent, through the real queue handler, give the endpoint exactly one request", async () => {
    const tid = await newTenant("dupingest2");
    await ensureType("dup.ingest.real");
    const key = uniq("dupingest2");
    const ep = await newEndpoint(tid, { url: `${receiver()}/ok/${key}` });
    const idemKey = uniq("k");
    await expect(ingest(testDeps({ delivery: fakeQueue(true) }).deps, tid, "dup.ingest.real", {}, { key: idemKey })).rejects.toMatchObject({ status: 503 });
    const t = testDeps();
    await ingest(t.deps, tid, "dup.ingest.real", {}, { key: idemKey });
    const [m, ...more] = takeDeliverMessages(t.delivery).map(bodyOf);
    expect(more).toEqual([]);
    // The queue hands it over twice and redelivers it a third time, all in one batch.
    const res = await runQueue("switchyard-deliveries", [qmsg(m), qmsg(m), qmsg(m, uniq("m"), 3)]);
    expect(res.outcome).toBe("ok");
    expect(res.retryMessages).toEqual([]);
    expect(res.explicitAcks).toHaveLength(3);
    const rows = await deliveriesOfEndpoint(tid, ep.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: "delivered", attempts: 1 });
    // Nothing else is on its way: a moment later still one request and one attempt.
    await sleep(1500);
    expect(await receiverLog(`/ok/${key}`)).toHaveLength(1);
    expect((await deliveryDetail(tid, rows[0]!.id)).attempts).toHaveLength(1);
  });
});

describe("duplicate and stale delivery messages", () => {
  it("copies of a delivery message, in one batch or later, send one request and record one attempt", async () => {
    const tid = await newTenant("dupdel");
    await ensureType("dup.del.ivery");
    const key = uniq("dupdel");
    const ep = await newEndpoint(tid, { url: `${receiver()}/ok/${key}` });
    const t = testDeps();
    await ingest(t.deps, tid, "dup.del.ivery", {});
    const [m] = takeDeliverMessages(t.delivery);
    const body = deliverOf(m!.t, m!.e, m!.p, m!.g);

    // Two copies in one batch: one request, one recorded attempt, both copies acked.
    const first = await runQueue("switchyard-deliveries", [qmsg(body), qmsg(body)]);
    expect(first.retryMessages).toEqual([]);
    expect(first.explicitAcks).toHaveLength(2);
    expect(await receiverLog(`/ok/${key}`)).toHaveLength(1);
    const [d] = await deliveriesOfEndpoint(tid, ep.id);
    expect(d).toMatchObject({ status: "delivered", attempts: 1 });
    expect((await deliveryDetail(tid, d!.id)).attempts).toHaveLength(1);

    // A redelivered copy later: the delivery is delivered, so nothing is sent or recorded.
    const again = await runQueue("switchyard-deliveries", [qmsg(body, uniq("m"), 2)]);
    expect(again.explicitAcks).toHaveLength(1);
    expect(again.retryMessages).toEqual([]);
    expect(await receiverLog(`/ok/${key}`)).toHaveLength(1);
    const after = await deliveryDetail(tid, d!.id);
    expect(after).toMatchObject({ status: "delivered", attempts: expect.any(Array), endpoint_id: ep.id });
    expect(after.attempts).toHaveLength(1);
  });

  it("a message with a stale generation is acked and sends nothing; the current one delivers", async () => {
    const tid = await newTenant("stale");
    await ensureType("stale.gen.x");
    const key = uniq("stale");
    const ep = await newEndpoint(tid, { url: `${receiver()}/fail/1/${key}`, retry_schedule: [60] });
    const t = testDeps();
    const ev = await ingest(t.deps, tid, "stale.gen.x", {});
    const [m] = takeDeliverMessages(t.delivery);
    // The first attempt fails: its retry message (generation 0) waits in the queue for 60 s.
    await consume(t, [m!]);
    const [retryMsg] = takeDeliverMessages(t.delivery);
    expect(retryMsg).toMatchObject({ e: ev.seq, g: 0 });
    expect(retryMsg!.delaySeconds).toBeGreaterThanOrEqual(50);
    const [d] = await deliveriesOfEndpoint(tid, ep.id);
    expect(d).toMatchObject({ status: "pending", attempts: 1, response_status: 500 });
    // A manual retry bumps the generation (the API would enqueue the job it answers).
    const retried = await (await logOf(tid)).retry(keyOf(d!).ordinal, ev.seq, Date.now());
    expect(retried).toMatchObject({ kind: "queued", job: { e: ev.seq, p: [keyOf(d!).ordinal], g: 1 } });

    // The old message, even once due, is stale: acked, nothing sent, nothing recorded.
    const stale = await runQueue("switchyard-deliveries", [qmsg(deliverOf(retryMsg!.t, retryMsg!.e, retryMsg!.p, retryMsg!.g))]);
    expect(stale.explicitAcks).toHaveLength(1);
    expect(stale.retryMessages).toEqual([]);
    expect(await receiverLog(`/fail/1/${key}`)).toHaveLength(1);
    expect((await deliveriesOfEndpoint(tid, ep.id))[0]).toMatchObject({ status: "pending", attempts: 1 });
    expect((await deliveryDetail(tid, d!.id)).attempts).toHaveLength(1);

    // The current one (generation 1) makes attempt 2.
    if (retried.kind !== "queued") throw new Error("not queued");
    await runQueue("switchyard-deliveries", [qmsg(deliverOf(retryMsg!.t, retried.job.e, retried.job.p, retried.job.g))]);
    expect((await receiverLog(`/fail/1/${key}`)).map((r) => r.headers["webhook-attempt"])).toEqual(["1", "2"]);
    expect((await deliveriesOfEndpoint(tid, ep.id))[0]).toMatchObject({ status: "delivered", attempts: 2 });
  });

  it("a consumer that fails on one message retries only that message and acks the others", async () => {
    const tid = await newTenant("throws");
    await ensureType("throw.mid.batch");
    const key = uniq("throws");
    const good1 = await newEndpoint(tid, { url: `${receiver()}/ok/${key}/1` });
    const bad = await newEndpoint(tid, { url: `${receiver()}/ok/${key}/bad` });
    const good2 = await newEndpoint(tid, { url: `${receiver()}/ok/${key}/2` });
    // The bad endpoint's secret cannot be decrypted: signing fails inside the consumer.
    await env.DB.prepare(`UPDATE endpoint_secrets SET secret_box = 'not-a-sealed-box' WHERE endpoint_id = ?`).bind(bad.id).run();
    const t = testDeps();
    const ev = await ingest(t.deps, tid, "throw.mid.batch", {});
    const [job] = takeDeliverMessages(t.delivery);
    const ordinalOf = async (ep: { id: string }) => keyOf((await deliveriesOfEndpoint(tid, ep.id))[0]!).ordinal;
    const ordinals = new Map<string, number>();
    for (const ep of [good1, bad, good2]) ordinals.set(ep.id, await ordinalOf(ep));
    expect([...job!.p].sort()).toEqual([...ordinals.values()].sort());

    // One message per endpoint: only the bad one's comes back.
    const msgs = [good1, bad, good2].map((ep) => qmsg(deliverOf(job!.t, ev.seq, [ordinals.get(ep.id)!], 0), `${ep.id}-msg`));
    const res = await runQueue("switchyard-deliveries", msgs);
    expect(res.outcome).toBe("ok");
    expect(res.retryMessages.map((r) => r.msgId)).toEqual([`${bad.id}-msg`]);
    expect(res.retryMessages[0]!.delaySeconds).toBeGreaterThanOrEqual(1);
    expect([...res.explicitAcks].sort()).toEqual([`${good1.id}-msg`, `${good2.id}-msg`].sort());
    for (const ep of [good1, good2]) expect((await deliveriesOfEndpoint(tid, ep.id))[0]).toMatchObject({ status: "delivered", attempts: 1 });
    // The failing one is untouched: still pending, no attempt counted, nothing sent.
    const [badRow] = await deliveriesOfEndpoint(tid, bad.id);
    expect(badRow).toMatchObject({ status: "pending", attempts: 0, reason: null });
    expect((await deliveryDetail(tid, badRow!.id)).attempts).toEqual([]);
    expect(await receiverLog(`/ok/${key}/bad`)).toHaveLength(0);

    // The message as ingest sent it names all three: it comes back whole, but the two
    // delivered ones are stale by then and are not sent again.
    const whole = await runQueue("switchyard-deliveries", [qmsg(deliverOf(job!.t, job!.e, job!.p, job!.g), "whole")]);
    expect(whole.retryMessages.map((r) => r.msgId)).toEqual(["whole"]);
    expect(whole.explicitAcks).toEqual([]);
    expect(await receiverLog(`/ok/${key}/1`)).toHaveLength(1);
    expect(await receiverLog(`/ok/${key}/2`)).toHaveLength(1);
    expect(await receiverLog(`/ok/${key}/bad`)).toHaveLength(0);
    expect((await deliveriesOfEndpoint(tid, bad.id))[0]).toMatchObject({ status: "pending", attempts: 0, reason: null });
  });
});
