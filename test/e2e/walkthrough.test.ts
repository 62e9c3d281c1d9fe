/**
 * The README's five-minute walkthrough, done with the typed client (clients/typescript,
 * docs/client.md) against the real Worker under `wrangler dev`: a tenant, an event type with a
 * schema, an endpoint at the e2e receiver, `sendEvent`, the request verified with the public
 * `standardwebhooks` package, the idempotent repeat, a refused event, the delivery log, one
 * delivery's attempts, a retry, and a tenant key's limits. Errors come back as the client's
 * typed `error` (RFC 9457 problem documents), which the type assertions pin.
 */
import { beforeAll, describe, expect, expectTypeOf, inject, it } from "vitest";
import {
  type Attempt,
  type Client,
  createApiKey,
  createEndpoint,
  createEventType,
  createSwitchyardClient,
  createTenant,
  type DeliveryDetail,
  getDelivery,
  getEndpointStats,
  listDeliveries,
  listEvents,
  type Problem,
  retryDelivery,
  sendEvent,
  sendTestEvent,
} from "../../clients/typescript/src/index";
import { at, forEvent, receivedAt, sleep, uid, verifyStandard, waitFor, workerUrl } from "./helpers";

/** The walkthrough's setup: what steps 1 and 2 of the README create. */
interface Setup {
  client: Client;
  tid: string;
  type: string;
  endpointId: string;
  secret: string;
  path: string;
}

let s: Setup;

beforeAll(async () => {
  // With a trailing slash, as people paste origins: createSwitchyardClient must not double it.
  const client = createSwitchyardClient({ baseUrl: `${workerUrl()}/`, token: inject("adminToken") });
  const key = uid();

  // 1. A tenant and an event type with a JSON Schema.
  const tenant = await createTenant({ client, body: { id: `e2e-walk-${key}`, name: "Acme Fleet" } });
  expect(tenant.response.status).toBe(201);
  const tid = tenant.data!.id;
  const type = `e2e_walk_${key}.report.completed`;
  const eventType = await createEventType({
    client,
    body: {
      name: type,
      description: "An inspection report was completed",
      group: "inspections",
      schema: { type: "object", required: ["report_id"], properties: { report_id: { type: "string" } } },
      example: { report_id: "rep_123" },
    },
  });
  expect(eventType.response.status).toBe(201);

  // 2. An endpoint subscribed by wildcard; its secret is shown once, here.
  const path = `/ok/walk-${key}`;
  const endpoint = await createEndpoint({
    client,
    path: { tid },
    body: { url: at(path), description: "Acme fleet system", filter: { types: [`e2e_walk_${key}.report.*`] } },
  });
  expect(endpoint.response.status).toBe(201);
  expect(endpoint.data!.secret).toMatch(/^whsec_/);
  s = { client, tid, type, endpointId: endpoint.data!.id, secret: endpoint.data!.secret, path };
});

/** The receiver's requests for one event, once there are at least `n`. */
async function waitForEvent(eventId: string, n: number) {
  return waitFor(
    async () => {
      const got = forEvent(await receivedAt(s.path), eventId);
      return got.length >= n ? got : undefined;
    },
    { timeoutMs: 20_000, what: `${n} request(s) for ${eventId} at ${s.path}` },
  );
}

/** Sends one report event and waits until the receiver has it; returns the event id and the request. */
async function sendReport(reportId: string) {
  const sent = await sendEvent({ client: s.client, path: { tid: s.tid }, body: { type: s.type, data: { report_id: reportId } } });
  expect(sent.response.status).toBe(202);
  const eventId = sent.data!.id;
  const [recorded] = await waitForEvent(eventId, 1);
  return { eventId, recorded: recorded! };
}

describe("the README walkthrough with the typed client", () => {
  it("3–4. sendEvent answers 202, the receiver verifies the request with standardwebhooks, and the same Idempotency-Key answers 200 with the original event", async () => {
    const reportId = `rep_${uid()}`;
    const headers = { "idempotency-key": `report-${reportId}` };
    const body = { type: s.type, data: { report_id: reportId } };

    const first = await sendEvent({ client: s.client, path: { tid: s.tid }, headers, body });
    expect(first.error).toBeUndefined();
    expect(first.response.status).toBe(202);
    expect(first.data).toMatchObject({ id: expect.stringMatching(/^evt_/), type: s.type });
    const eventId = first.data!.id;

    const [recorded] = await waitForEvent(eventId, 1);
    const payload = verifyStandard(s.secret, recorded!);
    expect(payload).toMatchObject({ id: eventId, type: s.type, data: { report_id: reportId } });
    expect(recorded!.headers["webhook-attempt"]).toBe("1");

    const again = await sendEvent({ client: s.client, path: { tid: s.tid }, headers, body });
    expect(again.response.status).toBe(200);
    expect(again.data!.id).toBe(eventId);
    // Still one request for that event, after giving a second delivery time to show up.
    await sleep(1_500);
    expect(forEvent(await receivedAt(s.path), eventId)).toHaveLength(1);
  });

  it("5. data that breaks the event type's schema comes back as a typed 422 problem and creates no event", async () => {
    const before = await listEvents({ client: s.client, path: { tid: s.tid }, query: { limit: 250 } });
    const refused = await sendEvent({ client: s.client, path: { tid: s.tid }, body: { type: s.type, data: { report_id: 7 } } });

    expect(refused.data).toBeUndefined();
    expect(refused.response.status).toBe(422);
    expect(refused.response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    expectTypeOf(refused.error).toEqualTypeOf<Problem | undefined>();
    expect(refused.error).toMatchObject({ status: 422, title: expect.any(String), detail: expect.any(String) });
    expect(refused.error!.errors?.map((e) => e.path)).toContain("data.report_id");

    const after = await listEvents({ client: s.client, path: { tid: s.tid }, query: { limit: 250 } });
    expect(after.data!.data.map((e) => e.id)).toEqual(before.data!.data.map((e) => e.id));
  });

  it("6. listDeliveries shows the delivery, getDelivery its attempt and request, retryDelivery sends it once more (verified again)", async () => {
    const { eventId, recorded } = await sendReport(`rep_${uid()}`);
    verifyStandard(s.secret, recorded);

    const delivered = await waitFor(
      async () => {
        const page = await listDeliveries({ client: s.client, path: { tid: s.tid, eid: s.endpointId }, query: { status: "delivered" } });
        return page.data?.data.find((d) => d.event_id === eventId);
      },
      { timeoutMs: 20_000, what: `the delivery of ${eventId} listed as delivered` },
    );
    expect(delivered).toMatchObject({ endpoint_id: s.endpointId, event_type: s.type, status: "delivered", attempts: 1, response_status: 200 });

    const detail = await getDelivery({ client: s.client, path: { tid: s.tid, did: delivered.id } });
    expectTypeOf<DeliveryDetail["attempts"]>().toEqualTypeOf<Attempt[]>();
    expect(detail.data!.attempts).toHaveLength(1);
    expect(detail.data!.attempts[0]).toMatchObject({ n: 1, response_status: 200 });
    expect(detail.data!.request).toMatchObject({ method: "POST", url: at(s.path) });
    expect(detail.data!.request.headers["webhook-id"]).toBe(eventId);

    const retried = await retryDelivery({ client: s.client, path: { tid: s.tid, did: delivered.id } });
    expect(retried.error).toBeUndefined();
    expect(retried.response.status).toBe(202);
    const requests = await waitForEvent(eventId, 2);
    expect(verifyStandard(s.secret, requests[1]!)).toMatchObject({ id: eventId, type: s.type });
    const after = await waitFor(
      async () => {
        const d = await getDelivery({ client: s.client, path: { tid: s.tid, did: delivered.id } });
        return d.data && d.data.attempts.length === 2 && d.data.status === "delivered" ? d.data : undefined;
      },
      { timeoutMs: 20_000, what: `delivery ${delivered.id} to record its second attempt` },
    );
    expect(after.attempts.map((a) => a.response_status)).toEqual([200, 200]);

    // A test send to the same endpoint, and the endpoint's counters.
    const test = await sendTestEvent({ client: s.client, path: { tid: s.tid, eid: s.endpointId }, body: { type: s.type } });
    expect(test.response.status).toBe(200);
    const stats = await getEndpointStats({ client: s.client, path: { tid: s.tid, eid: s.endpointId } });
    expect(stats.response.status).toBe(200);
  });

  it("7. a tenant API key is scoped to its tenant and cannot post events: a typed 403", async () => {
    const created = await createApiKey({ client: s.client, path: { tid: s.tid }, body: { name: "acme dashboard" } });
    expect(created.response.status).toBe(201);
    const tenantClient = createSwitchyardClient({ baseUrl: workerUrl(), token: created.data!.key });

    const listed = await listDeliveries({ client: tenantClient, path: { tid: s.tid, eid: s.endpointId } });
    expect(listed.response.status).toBe(200);

    const refused = await sendEvent({ client: tenantClient, path: { tid: s.tid }, body: { type: s.type, data: { report_id: "rep_1" } } });
    expect(refused.data).toBeUndefined();
    expect(refused.error).toMatchObject({ status: 403, title: "Forbidden" });
  });

  it("an unknown delivery id is a typed 404 problem, and a wrong token a typed 401", async () => {
    const missing = await getDelivery({ client: s.client, path: { tid: s.tid, did: "dlv_doesnotexist" } });
    expect(missing.data).toBeUndefined();
    expect(missing.response.status).toBe(404);
    expect(missing.error).toMatchObject({ status: 404, title: "Not Found" });

    const stranger = createSwitchyardClient({ baseUrl: workerUrl(), token: "not-a-token" });
    const refused = await listDeliveries({ client: stranger, path: { tid: s.tid, eid: s.endpointId } });
    expect(refused.error).toMatchObject({ status: 401 });
  });
});
