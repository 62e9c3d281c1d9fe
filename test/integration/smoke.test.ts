import { env, exports } from "cloudflare:workers";
import { worker } from "../support/worker-handlers";
import { describe, expect, inject, it } from "vitest";

const admin = { authorization: "Bearer test-admin-token", "content-type": "application/json" };

describe("smoke", () => {
  it("health is ok and an event reaches the receiver through both consumers", async () => {
    const health = await exports.default.fetch(new Request("http://x/health"));
    expect(health.status).toBe(200);
    const receiver = inject("receiverUrl");
    await exports.default.fetch(new Request("http://x/v1/tenants", { method: "POST", headers: admin, body: JSON.stringify({ id: "t1", name: "T" }) }));
    await exports.default.fetch(new Request("http://x/v1/event-types", { method: "POST", headers: admin, body: JSON.stringify({ name: "a.b" }) }));
    const ep = await exports.default.fetch(
      new Request("http://x/v1/tenants/t1/endpoints", { method: "POST", headers: admin, body: JSON.stringify({ url: `${receiver}/ok/smoke` }) }),
    );
    expect(ep.status).toBe(201);
    const ev = await exports.default.fetch(new Request("http://x/v1/tenants/t1/events", { method: "POST", headers: admin, body: JSON.stringify({ type: "a.b", data: { x: 1 } }) }));
    expect(ev.status).toBe(202);
    const { results } = await env.DB.prepare("SELECT seq FROM events").all<{ seq: number }>();
    const fan = await worker.queue("switchyard-fanout", [{ id: "m1", timestamp: new Date(), attempts: 1, body: { kind: "fanout", e: results[0]!.seq } }]);
    expect(fan.outcome).toBe("ok");
    const d = await env.DB.prepare("SELECT seq, generation FROM deliveries").first<{ seq: number; generation: number }>();
    const del = await worker.queue("switchyard-deliveries", [{ id: "m2", timestamp: new Date(), attempts: 1, body: { kind: "deliver", d: d!.seq, g: d!.generation } }]);
    expect(del.outcome).toBe("ok");
    const log = (await (await fetch(`${receiver}/_log?prefix=/ok/smoke`)).json()) as unknown[];
    expect(log.length).toBeGreaterThanOrEqual(1);
  });
});
