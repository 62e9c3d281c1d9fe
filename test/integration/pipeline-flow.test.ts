/**
 * Ingest → fan-out → delivery with real D1, the real consumers and the real receiver;
 * filter matching at fan-out; duplicate and stale messages; a consumer that throws.
 */
import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { describe, expect, it, vi } from "vitest";

vi.setConfig({ testTimeout: 20_000 });
import { fanOutEvent } from "../../src/pipeline/fanout";
import {
  attemptsOf,
  call,
  deadLettersOf,
  deliverMessages,
  deliveriesOfEndpoint,
  deliveryRow,
  ensureType,
  eventRow,
  ingest,
  ingestAndFanOut,
  newEndpoint,
  newTenant,
  operatorEvents,
  qmsg,
  receiver,
  receiverLog,
  runQueue,
  testDeps,
  uniq,
  waitFor,
} from "./pipeline-helpers";

describe("ingest → fan-out → delivery", () => {
  it("an event posted over HTTP reaches every subscribed endpoint once, signed with its own secret", async () => {
    const tid = await newTenant("flow");
    await ensureType("flow.report.completed");
    const key = uniq("flow");
    const a = await newEndpoint(tid, { url: `${receiver()}/ok/${key}/a` });
    const b = await newEndpoint(tid, { url: `${receiver()}/ok/${key}/b` });

    const posted = await call("POST", `/v1/tenants/${tid}/events`, { type: "flow.report.completed", data: { report: 7, name: "ü" }, occurred_at: "2026-01-02T03:04:05Z" });
    expect(posted.status).toBe(202);
    const eventId = posted.body.id as string;

    // Both consumers run on their own: wait for the record in D1.
    for (const ep of [a, b]) {
      await waitFor(`delivery to ${ep.id}`, async () => (await deliveriesOfEndpoint(ep.id)).find((d) => d.status === "delivered"));
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
      const rows = await deliveriesOfEndpoint(ep.id);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ status: "delivered", attempts: 1, reason: null, next_attempt_at: null, response_status: 200 });
    }
    const ev = await env.DB.prepare(`SELECT fanned_out FROM events WHERE tenant_id = ? AND id = ?`).bind(tid, eventId).first<{ fanned_out: number }>();
    expect(ev?.fanned_out).toBe(1);
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

describe("fan-out matching", () => {
  it("applies exact, wildcard, star, group and exclude filters; skips paused endpoints; records disabled ones as failed without an attempt", async () => {
    const tid = await newTenant("match");
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
    await env.DB.prepare(`UPDATE endpoints SET status = 'disabled', disabled_reason = 'test' WHERE id = ?`).bind(disabled.id).run();

    const t = testDeps();
    const types = ["fm.order.created", "fm.order.deleted", "fm.order.item.added", "fm.user.created", "fm.misc.thing"];
    const events: Record<string, number> = {};
    for (const type of types) events[type] = (await ingestAndFanOut(t, tid, type, { type })).seq;

    const got = async (ep: { id: string }) => {
      const rows = await deliveriesOfEndpoint(ep.id);
      return rows.map((r) => r.event_type).sort();
    };
    expect(await got(exact)).toEqual(["fm.order.created"]);
    expect(await got(wildcard)).toEqual(["fm.order.created", "fm.order.deleted", "fm.order.item.added"]);
    expect(await got(deep)).toEqual(["fm.misc.thing", "fm.user.created"]);
    expect(await got(star)).toEqual(["fm.misc.thing", "fm.order.created", "fm.order.item.added", "fm.user.created"]);
    expect(await got(group)).toEqual(["fm.order.created", "fm.order.deleted", "fm.order.item.added", "fm.user.created"]);
    expect(await got(groupExcl)).toEqual(["fm.order.created", "fm.order.deleted"]);
    expect(await got(all)).toEqual([...types].sort());
    expect(await got(paused)).toEqual([]);

    // Disabled: a failed delivery (endpoint_disabled, no attempt) with a dead letter, and no message.
    const dis = await deliveriesOfEndpoint(disabled.id);
    expect(dis.map((d) => d.event_type).sort()).toEqual(["fm.order.created", "fm.user.created"]);
    for (const d of dis) {
      expect(d).toMatchObject({ status: "failed", reason: "endpoint_disabled", attempts: 0, next_attempt_at: null });
      expect(await attemptsOf(d.seq)).toEqual([]);
      const dl = await deadLettersOf({ deliverySeq: d.seq });
      expect(dl).toHaveLength(1);
      expect(dl[0]).toMatchObject({ reason: "endpoint_disabled", attempts: 0, endpoint_id: disabled.id, tenant_id: tid, queue: null, last_response_status: null });
      // endpoint_disabled failures emit no operational event (no floods).
      expect(await operatorEvents("switchyard.delivery.failed", "endpoint_id", disabled.id)).toEqual([]);
    }

    // Every pending delivery got exactly one message carrying its (seq, generation); nothing else was sent.
    const msgs = deliverMessages(t.delivery);
    const pendingSeqs: number[] = [];
    for (const ep of [exact, wildcard, deep, star, group, groupExcl, all]) for (const d of await deliveriesOfEndpoint(ep.id)) {
      expect(d).toMatchObject({ status: "pending", attempts: 0, generation: 1 });
      pendingSeqs.push(d.seq);
    }
    expect(msgs.map((m) => m.d).sort((x, y) => x - y)).toEqual(pendingSeqs.sort((x, y) => x - y));
    for (const m of msgs) expect(m.g).toBe(1);
    for (const seq of Object.values(events)) expect((await eventRow(seq))?.fanned_out).toBe(1);
  });

  it("a redelivered fan-out message creates no second delivery; a retried one re-sends only untried deliveries", async () => {
    const tid = await newTenant("dupfan");
    await ensureType("dup.fan.out");
    const e1 = await newEndpoint(tid, { url: `${receiver()}/ok/${uniq("dupfan")}` });
    const e2 = await newEndpoint(tid, { url: `${receiver()}/ok/${uniq("dupfan")}` });
    const t = testDeps();
    const ev = await ingest(t.deps, tid, "dup.fan.out", { n: 1 });
    await fanOutEvent({ ...t.deps, now: Date.now() }, { kind: "fanout", e: ev.seq }, 1);
    expect(deliverMessages(t.delivery)).toHaveLength(2);

    // A plain duplicate (first delivery attempt of the copy): nothing added, nothing sent.
    await fanOutEvent({ ...t.deps, now: Date.now() }, { kind: "fanout", e: ev.seq }, 1);
    expect(deliverMessages(t.delivery)).toHaveLength(2);
    // Two copies racing in parallel.
    await Promise.all([1, 2, 3].map(() => fanOutEvent({ ...t.deps, now: Date.now() }, { kind: "fanout", e: ev.seq }, 1)));
    expect(deliverMessages(t.delivery)).toHaveLength(2);
    expect(await deliveriesOfEndpoint(e1.id)).toHaveLength(1);
    expect(await deliveriesOfEndpoint(e2.id)).toHaveLength(1);

    // A queue retry of the message (the consumer may have crashed before sendBatch):
    // the untried deliveries are sent again with their current generation, but none is created.
    const d1 = (await deliveriesOfEndpoint(e1.id))[0]!;
    await env.DB.prepare(`UPDATE deliveries SET status = 'delivered', attempts = 1, next_attempt_at = NULL WHERE seq = ?`).bind(d1.seq).run();
    await fanOutEvent({ ...t.deps, now: Date.now() }, { kind: "fanout", e: ev.seq }, 2);
    const resent = deliverMessages(t.delivery).slice(2);
    const d2 = (await deliveriesOfEndpoint(e2.id))[0]!;
    expect(resent).toEqual([{ kind: "deliver", d: d2.seq, g: d2.generation, delaySeconds: undefined }]);
    expect(await deliveriesOfEndpoint(e1.id)).toHaveLength(1);
    expect(await deliveriesOfEndpoint(e2.id)).toHaveLength(1);
  });

  it("duplicate fan-out messages through the real consumer give each endpoint exactly one request", async () => {
    const tid = await newTenant("dupfan2");
    await ensureType("dup.fan.real");
    const key = uniq("dupfan2");
    const ep = await newEndpoint(tid, { url: `${receiver()}/ok/${key}` });
    const t = testDeps();
    const ev = await ingest(t.deps, tid, "dup.fan.real", {});
    const body = { kind: "fanout", e: ev.seq };
    const res = await runQueue("switchyard-fanout", [qmsg(body), qmsg(body), qmsg(body, uniq("m"), 3)]);
    expect(res.outcome).toBe("ok");
    expect(res.retryMessages).toEqual([]);
    expect(res.explicitAcks).toHaveLength(3);
    const rows = await deliveriesOfEndpoint(ep.id);
    expect(rows).toHaveLength(1);
    await waitFor("delivered", async () => (await deliveryRow(rows[0]!.seq)).status === "delivered");
    // Let any duplicate message drain through the local queue (its batch timeout is 1 s).
    await new Promise((r) => setTimeout(r, 1500));
    expect(await receiverLog(`/ok/${key}`)).toHaveLength(1);
    expect(await attemptsOf(rows[0]!.seq)).toHaveLength(1);
  });
});

describe("duplicate and stale delivery messages", () => {
  it("copies of a delivery message, in one batch or later, send one request and record one attempt", async () => {
    const tid = await newTenant("dupdel");
    await ensureType("dup.del.ivery");
    const key = uniq("dupdel");
    const ep = await newEndpoint(tid, { url: `${receiver()}/ok/${key}` });
    const t = testDeps();
    await ingestAndFanOut(t, tid, "dup.del.ivery", {});
    const [m] = deliverMessages(t.delivery);
    const body = { kind: "deliver", d: m!.d, g: m!.g };

    // Two copies in one batch: one request, one recorded attempt, both copies acked.
    const first = await runQueue("switchyard-deliveries", [qmsg(body), qmsg(body)]);
    expect(first.retryMessages).toEqual([]);
    expect(first.explicitAcks).toHaveLength(2);
    expect(await receiverLog(`/ok/${key}`)).toHaveLength(1);
    expect(await attemptsOf(m!.d)).toHaveLength(1);
    expect(await deliveryRow(m!.d)).toMatchObject({ status: "delivered", attempts: 1 });

    // A redelivered copy later: the delivery is delivered, so nothing is sent or recorded.
    const again = await runQueue("switchyard-deliveries", [qmsg(body, uniq("m"), 2)]);
    expect(again.explicitAcks).toHaveLength(1);
    expect(await receiverLog(`/ok/${key}`)).toHaveLength(1);
    expect(await attemptsOf(m!.d)).toHaveLength(1);
    expect(await deliveryRow(m!.d)).toMatchObject({ status: "delivered", attempts: 1, endpoint_id: ep.id });
  });

  it("a message with a stale generation is acked and sends nothing; the current one delivers", async () => {
    const tid = await newTenant("stale");
    await ensureType("stale.gen.x");
    const key = uniq("stale");
    await newEndpoint(tid, { url: `${receiver()}/ok/${key}` });
    const t = testDeps();
    await ingestAndFanOut(t, tid, "stale.gen.x", {});
    const [m] = deliverMessages(t.delivery);
    // A retry, replay or the Sweeper bumped the generation; the old message is still in the queue.
    await env.DB.prepare(`UPDATE deliveries SET generation = generation + 1 WHERE seq = ?`).bind(m!.d).run();

    const stale = await runQueue("switchyard-deliveries", [qmsg({ kind: "deliver", d: m!.d, g: m!.g })]);
    expect(stale.explicitAcks).toHaveLength(1);
    expect(stale.retryMessages).toEqual([]);
    expect(await receiverLog(`/ok/${key}`)).toHaveLength(0);
    expect(await deliveryRow(m!.d)).toMatchObject({ status: "pending", attempts: 0, generation: m!.g + 1 });
    expect(await attemptsOf(m!.d)).toEqual([]);

    await runQueue("switchyard-deliveries", [qmsg({ kind: "deliver", d: m!.d, g: m!.g + 1 })]);
    expect(await receiverLog(`/ok/${key}`)).toHaveLength(1);
    expect(await deliveryRow(m!.d)).toMatchObject({ status: "delivered", attempts: 1 });
  });

  it("a consumer that throws on one message retries only that message and acks the others", async () => {
    const tid = await newTenant("throws");
    await ensureType("throw.mid.batch");
    const key = uniq("throws");
    const good1 = await newEndpoint(tid, { url: `${receiver()}/ok/${key}/1` });
    const bad = await newEndpoint(tid, { url: `${receiver()}/ok/${key}/bad` });
    const good2 = await newEndpoint(tid, { url: `${receiver()}/ok/${key}/2` });
    // The bad endpoint's secret cannot be decrypted: signing throws inside the consumer.
    await env.DB.prepare(`UPDATE endpoint_secrets SET secret_box = 'not-a-sealed-box' WHERE endpoint_id = ?`).bind(bad.id).run();
    const t = testDeps();
    await ingestAndFanOut(t, tid, "throw.mid.batch", {});
    const byEndpoint = new Map<string, { d: number; g: number }>();
    for (const ep of [good1, bad, good2]) {
      const d = (await deliveriesOfEndpoint(ep.id))[0]!;
      byEndpoint.set(ep.id, { d: d.seq, g: d.generation });
    }
    const msgs = [good1, bad, good2].map((ep) => qmsg({ kind: "deliver", ...byEndpoint.get(ep.id)! }, `${ep.id}-msg`));
    const res = await runQueue("switchyard-deliveries", msgs);
    expect(res.outcome).toBe("ok");
    expect(res.retryMessages.map((r) => r.msgId)).toEqual([`${bad.id}-msg`]);
    expect([...res.explicitAcks].sort()).toEqual([`${good1.id}-msg`, `${good2.id}-msg`].sort());
    expect(await deliveryRow(byEndpoint.get(good1.id)!.d)).toMatchObject({ status: "delivered", attempts: 1 });
    expect(await deliveryRow(byEndpoint.get(good2.id)!.d)).toMatchObject({ status: "delivered", attempts: 1 });
    // The failing one is untouched: still pending, no attempt counted, nothing sent.
    expect(await deliveryRow(byEndpoint.get(bad.id)!.d)).toMatchObject({ status: "pending", attempts: 0, reason: null });
    expect(await attemptsOf(byEndpoint.get(bad.id)!.d)).toEqual([]);
    expect(await receiverLog(`/ok/${key}/bad`)).toHaveLength(0);
  });
});
