/**
 * @module Fixtures of the consumer tests (consumer-deliveries, consumer-dead-letters): real
 * tenants and endpoints made through the API, their TenantLogs, ingest through the log, and
 * a MessageBatch that records acks and retries. The basic helpers are in ./pipeline-helpers.
 */
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { syncEndpoint } from "../../src/core/tenant-logs";
import { openDb } from "../../src/db/client";
import { findEndpointById } from "../../src/db/queries/endpoints";
import type { DeliveryJob, LogDeliverMessage } from "../../src/tenant-log/types";
import { call, receiver, tenantSeqOf, uniq } from "./pipeline-helpers";

type Stub = ReturnType<Env["TENANT_LOG"]["getByName"]>;

const message = (t: number, job: DeliveryJob): LogDeliverMessage => ({ kind: "deliver", t, e: job.e, p: job.p, g: job.g });

/** A MessageBatch that records what the consumer acked and retried. */
export function fakeBatch<B>(queue: string, bodies: B[]) {
  const acked = new Set<string>();
  const retried = new Set<string>();
  const retryDelays = new Map<string, number | undefined>();
  const messages = bodies.map((body) => {
    const id = uniq("m");
    return {
      id,
      timestamp: new Date(),
      attempts: 1,
      body,
      ack: () => void acked.add(id),
      retry: (options?: QueueRetryOptions) => {
        retried.add(id);
        retryDelays.set(id, options?.delaySeconds);
      },
    };
  });
  const batch = {
    queue,
    messages,
    ackAll: () => messages.forEach((m) => m.ack()),
    retryAll: (options?: QueueRetryOptions) => messages.forEach((m) => m.retry(options)),
  } as unknown as MessageBatch<B>;
  return { batch, acked, retried, retryDelays };
}

export interface Tenant {
  t: number;
  id: string;
  log: Stub;
}

export interface Endpoint {
  id: string;
  secret: string;
  ordinal: number;
  path: string;
}


/** A fresh tenant in D1, and its TenantLog. */
export async function tenantLog(): Promise<Tenant> {
  const id = uniq("cons").replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 60);
  const res = await call("POST", "/v1/tenants", { id, name: id });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  const t = await tenantSeqOf(id);
  return { t, id, log: env.TENANT_LOG.getByName(String(t)) };
}

/** `_operator` and its TenantLog (it always exists). */
export async function operator(): Promise<Tenant> {
  const t = await tenantSeqOf("_operator");
  return { t, id: "_operator", log: env.TENANT_LOG.getByName(String(t)) };
}

/** An endpoint made through the API (which syncs it into the tenant's log); its ordinal there. */
export async function endpoint(tenant: Tenant, path: string, body: Record<string, unknown> = {}): Promise<Endpoint> {
  const res = await call("POST", `/v1/tenants/${tenant.id}/endpoints`, { url: `${receiver()}${path}`, ...body });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  const row = await findEndpointById(openDb(env.DB), res.body.id);
  const { ordinal } = await syncEndpoint({ env }, tenant.t, row!);
  return { id: res.body.id, secret: res.body.secret, ordinal, path };
}

let n = 0;
/** Ingests one event and answers the messages its TenantLog would send. */
export async function ingest(tenant: Tenant, data: unknown = {}, type = "consumer.tested"): Promise<{ e: number; id: string; messages: LogDeliverMessage[] }> {
  n += 1;
  const r = await tenant.log.ingest({
    tenantSeq: tenant.t,
    id: uniq("evt"),
    type,
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
