import { env, exports } from "cloudflare:workers";
import { worker } from "../support/worker-handlers";
import { describe, expect, inject, it } from "vitest";

const admin = { authorization: "Bearer test-admin-token", "content-type": "application/json" };

describe("smoke", () => {
  it("health is ok and an event reaches the receiver through the delivery consumer", async () => {
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
    // The Worker's own consumer delivers it in the background.
    const received = async () => (await (await fetch(`${receiver}/_log?prefix=/ok/smoke`)).json()) as unknown[];
    for (let i = 0; i < 300 && (await received()).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await received()).toHaveLength(1);
    // The same message again, through the queue handler, after its outcome was recorded: acked, nothing sent.
    const seq = (await env.DB.prepare("SELECT seq FROM tenants WHERE id = 't1'").first<{ seq: number }>())!.seq;
    const again = await worker.queue("switchyard-deliveries", [{ id: "m1", timestamp: new Date(), attempts: 1, body: { kind: "deliver", t: seq, e: 1, p: [1], g: 0 } }]);
    expect(again.outcome).toBe("ok");
    expect(again.explicitAcks).toEqual(["m1"]);
    expect(await received()).toHaveLength(1);
  });
});
