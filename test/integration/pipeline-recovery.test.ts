/**
 * Nothing accepted is lost: a refused `fanout` send at ingest, and the Sweeper alarm that
 * re-drives un-fanned events and deliveries whose message was lost.
 */
import { runDurableObjectAlarm, runInDurableObject, createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { createApp } from "../../src/api/app";
import {
  call,
  deliverMessages,
  deliveriesOfEndpoint,
  deliveryRow,
  ensureType,
  eventRow,
  fakeQueue,
  ingestAndFanOut,
  newEndpoint,
  newTenant,
  qmsg,
  receiver,
  receiverLog,
  runQueue,
  testDeps,
  uniq,
  waitFor,
} from "./pipeline-helpers";

vi.setConfig({ testTimeout: 20_000 });

const TYPE = "recover.thing.happened";

/** POSTs an event through the Worker's app with an env whose fan-out queue refuses every send. */
async function postWithRefusingQueue(tid: string, body: unknown, headers: Record<string, string> = {}) {
  const refusing = fakeQueue(true);
  const fakeEnv = Object.create(env) as Env;
  Object.defineProperty(fakeEnv, "FANOUT_QUEUE", { value: refusing.queue });
  const res = await createApp().fetch(
    new Request(`http://x/v1/tenants/${tid}/events`, {
      method: "POST",
      headers: { authorization: "Bearer test-admin-token", "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    }),
    fakeEnv,
    createExecutionContext(),
  );
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

async function eventsOfTenant(tid: string) {
  const { results } = await env.DB.prepare(`SELECT seq, id, fanned_out, idempotency_key FROM events WHERE tenant_id = ? ORDER BY seq`)
    .bind(tid)
    .all<{ seq: number; id: string; fanned_out: number; idempotency_key: string | null }>();
  return results;
}

const sweeper = () => env.SWEEPER.getByName("sweeper");

/** Runs one Sweeper alarm now (arming it first if nothing is set). */
async function runSweep(): Promise<void> {
  await sweeper().arm();
  expect(await runDurableObjectAlarm(sweeper())).toBe(true);
}

describe("a refused fan-out send at ingest", () => {
  it("answers 503 with Retry-After; a keyed event stays stored and a repeat POST answers 200 and fans it out", async () => {
    const tid = await newTenant("refuse");
    await ensureType(TYPE);
    const key = uniq("refuse");
    await newEndpoint(tid, { url: `${receiver()}/ok/${key}` });
    const body = { type: TYPE, data: { n: 1 } };

    const refused = await postWithRefusingQueue(tid, body, { "idempotency-key": key });
    expect(refused.status).toBe(503);
    expect(refused.headers.get("content-type")).toContain("application/problem+json");
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(refused.body).toMatchObject({ status: 503 });
    const stored = await eventsOfTenant(tid);
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ fanned_out: 0, idempotency_key: key });

    // The client retries with the same key (real queues now): 200 with the original event, fanned out.
    const repeat = await call("POST", `/v1/tenants/${tid}/events`, body, { "idempotency-key": key });
    expect(repeat.status).toBe(200);
    expect(repeat.body.id).toBe(stored[0]!.id);
    await waitFor("the repeated event to be delivered", async () => (await receiverLog(`/ok/${key}`)).length === 1);
    expect((await receiverLog(`/ok/${key}`))[0]!.headers["webhook-id"]).toBe(stored[0]!.id);
    expect(await eventsOfTenant(tid)).toEqual([expect.objectContaining({ id: stored[0]!.id, fanned_out: 1 })]);
  });

  it("without an idempotency key removes the stored event before answering 503, so a retry cannot double it", async () => {
    const tid = await newTenant("refuse-nokey");
    await ensureType(TYPE);
    await newEndpoint(tid, { url: `${receiver()}/ok/${uniq("nokey")}` });
    const refused = await postWithRefusingQueue(tid, { type: TYPE, data: { n: 2 } });
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).not.toBeNull();
    expect(await eventsOfTenant(tid)).toEqual([]);
  });
});

describe("the Sweeper", () => {
  it("fans out a keyed event whose client never came back once it is a minute old, and leaves younger and dead-lettered ones", async () => {
    const tid = await newTenant("sweep-fan");
    await ensureType(TYPE);
    const key = uniq("sweepfan");
    const ep = await newEndpoint(tid, { url: `${receiver()}/ok/${key}` });
    expect((await postWithRefusingQueue(tid, { type: TYPE, data: { n: "old" } }, { "idempotency-key": `${key}-old` })).status).toBe(503);
    expect((await postWithRefusingQueue(tid, { type: TYPE, data: { n: "young" } }, { "idempotency-key": `${key}-young` })).status).toBe(503);
    expect((await postWithRefusingQueue(tid, { type: TYPE, data: { n: "dead" } }, { "idempotency-key": `${key}-dead` })).status).toBe(503);
    const [old, young, dead] = await eventsOfTenant(tid);
    await env.DB.prepare(`UPDATE events SET created_at = created_at - 61000 WHERE seq IN (?, ?)`).bind(old!.seq, dead!.seq).run();
    await env.DB.prepare(`UPDATE events SET fanned_out = 2 WHERE seq = ?`).bind(dead!.seq).run();

    await runSweep();
    await waitFor("the old event to be delivered", async () => (await deliveriesOfEndpoint(ep.id)).some((d) => d.status === "delivered"));
    const rows = await deliveriesOfEndpoint(ep.id);
    expect(rows.map((r) => r.event_seq)).toEqual([old!.seq]);
    expect((await receiverLog(`/ok/${key}`)).map((r) => r.headers["webhook-id"])).toEqual([old!.id]);
    expect((await eventRow(old!.seq))?.fanned_out).toBe(1);
    expect((await eventRow(young!.seq))?.fanned_out).toBe(0);
    expect((await eventRow(dead!.seq))?.fanned_out).toBe(2);
    // Work is still pending (the young event), so the alarm re-armed itself.
    expect(await runInDurableObject(sweeper(), (_instance, state) => state.storage.getAlarm())).not.toBeNull();
  });

  it("re-enqueues a pending delivery whose message was lost with a new generation, and never touches parked or recently due ones", async () => {
    const tid = await newTenant("sweep-del");
    await ensureType(TYPE);
    const key = uniq("sweepdel");
    const ep = await newEndpoint(tid, { url: `${receiver()}/ok/${key}` });
    // Fan out with a fake delivery queue: these messages are "lost".
    const t = testDeps();
    const lostEv = await ingestAndFanOut(t, tid, TYPE, { n: "lost" });
    await ingestAndFanOut(t, tid, TYPE, { n: "recent" });
    await ingestAndFanOut(t, tid, TYPE, { n: "parked" });
    const [lost, recent, parked] = await deliveriesOfEndpoint(ep.id);
    expect(deliverMessages(t.delivery)).toHaveLength(3);
    const now = Date.now();
    await env.DB.batch([
      env.DB.prepare(`UPDATE deliveries SET next_attempt_at = ? WHERE seq = ?`).bind(now - 16 * 60_000, lost!.seq),
      env.DB.prepare(`UPDATE deliveries SET next_attempt_at = ? WHERE seq = ?`).bind(now - 5 * 60_000, recent!.seq),
      env.DB.prepare(`UPDATE deliveries SET next_attempt_at = NULL WHERE seq = ?`).bind(parked!.seq),
    ]);

    await runSweep();
    const rearmed = await deliveryRow(lost!.seq);
    expect(rearmed.generation).toBe(lost!.generation + 1);
    expect(rearmed.next_attempt_at).toBeGreaterThanOrEqual(now);
    await waitFor("the rescued delivery to be delivered", async () => (await deliveryRow(lost!.seq)).status === "delivered");
    expect((await receiverLog(`/ok/${key}`)).map((r) => r.headers["webhook-id"])).toEqual([lostEv.id]);

    // The lost message turning up after all is stale now: nothing more is sent.
    const late = await runQueue("switchyard-deliveries", [qmsg({ kind: "deliver", d: lost!.seq, g: lost!.generation })]);
    expect(late.explicitAcks).toHaveLength(1);
    expect(await receiverLog(`/ok/${key}`)).toHaveLength(1);

    expect(await deliveryRow(recent!.seq)).toMatchObject({ status: "pending", generation: recent!.generation, next_attempt_at: now - 5 * 60_000 });
    expect(await deliveryRow(parked!.seq)).toMatchObject({ status: "pending", generation: parked!.generation, next_attempt_at: null });
    // The recently due one is still scheduled: the alarm re-armed itself.
    expect(await runInDurableObject(sweeper(), (_instance, state) => state.storage.getAlarm())).not.toBeNull();
  });
});
