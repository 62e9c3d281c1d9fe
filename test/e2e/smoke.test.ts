import { Webhook } from "standardwebhooks";
import { expect, inject, it } from "vitest";

it("an event reaches the receiver, verified with standardwebhooks", async () => {
  const w = inject("workerUrl");
  const r = inject("receiverUrl");
  const h = { authorization: `Bearer ${inject("adminToken")}`, "content-type": "application/json" };
  await fetch(`${w}/v1/tenants`, { method: "POST", headers: h, body: JSON.stringify({ id: "smoke", name: "S" }) });
  await fetch(`${w}/v1/event-types`, { method: "POST", headers: h, body: JSON.stringify({ name: "smoke.test" }) });
  const ep = (await (await fetch(`${w}/v1/tenants/smoke/endpoints`, { method: "POST", headers: h, body: JSON.stringify({ url: `${r}/ok/smoke` }) })).json()) as { secret: string };
  const ev = await fetch(`${w}/v1/tenants/smoke/events`, { method: "POST", headers: h, body: JSON.stringify({ type: "smoke.test", data: { n: 1 } }) });
  expect(ev.status).toBe(202);
  let got: { headers: Record<string, string>; body: string }[] = [];
  for (let i = 0; i < 50 && got.length === 0; i++) {
    await new Promise((res) => setTimeout(res, 200));
    got = (await (await fetch(`${r}/_log?prefix=/ok/smoke`)).json()) as typeof got;
  }
  expect(got).toHaveLength(1);
  expect(new Webhook(ep.secret).verify(got[0]!.body, got[0]!.headers)).toMatchObject({ type: "smoke.test", data: { n: 1 } });
});
