/**
 * @module The bench's world: event types with groups, tenants, endpoints with mixed
 * filters (exact, wildcard, exclude, groups, catch-all) pointing at the receiver, ~1 KB
 * payloads, and the expected deliveries computed with the product's own filter rule.
 */
import { matchesFilter, type EndpointFilter } from "../src/domain/filter";

export const EVENT_TYPES: { name: string; group: string }[] = [
  { name: "vehicle.created", group: "fleet" },
  { name: "vehicle.updated", group: "fleet" },
  { name: "vehicle.deleted", group: "fleet" },
  { name: "report.created", group: "inspections" },
  { name: "report.completed", group: "inspections" },
  { name: "maintenance.task.created", group: "maintenance" },
  { name: "maintenance.task.completed", group: "maintenance" },
  { name: "invoice.paid", group: "billing" },
];
const GROUP_OF = new Map(EVENT_TYPES.map((t) => [t.name, t.group]));

/** Filter templates, cycled over a tenant's endpoints (each tenant starts at a different one). */
export const FILTERS: { kind: string; filter: Partial<EndpointFilter> }[] = [
  { kind: "catch-all", filter: {} },
  { kind: "exact", filter: { types: ["report.completed", "invoice.paid"] } },
  { kind: "wildcard+exclude", filter: { types: ["vehicle.*"], exclude: ["vehicle.deleted"] } },
  { kind: "groups", filter: { groups: ["maintenance", "inspections"] } },
  { kind: "wildcard+group+exclude", filter: { types: ["maintenance.*"], groups: ["billing"], exclude: ["maintenance.task.created"] } },
  { kind: "exact", filter: { types: ["vehicle.created"] } },
  { kind: "wildcards", filter: { types: ["report.*", "invoice.*"] } },
  { kind: "catch-all+exclude", filter: { exclude: ["vehicle.updated"] } },
];

const full = (f: Partial<EndpointFilter>): EndpointFilter => ({ types: f.types ?? [], exclude: f.exclude ?? [], groups: f.groups ?? [] });

export interface World {
  tag: string;
  tenants: string[];
  /** Per tenant, its endpoints' filters (in creation order). */
  filters: Map<string, EndpointFilter[]>;
  endpointCount: number;
}

/** A small deterministic PRNG (mulberry32), so every run posts the same event mix. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `data` of about `bytes` bytes of JSON, different per event. */
export function payload(i: number, type: string, bytes = 1000): unknown {
  const base = {
    vehicle_id: `veh_${String(i % 9973).padStart(6, "0")}`,
    site: `depot-${i % 17}`,
    odometer_km: 10_000 + ((i * 37) % 90_000),
    inspector: { id: `usr_${i % 211}`, name: "Alex Example" },
    checklist: [
      { item: "tyres", ok: true },
      { item: "brakes", ok: i % 5 !== 0 },
      { item: "lights", ok: true },
    ],
    kind: type,
    notes: "",
  };
  const pad = bytes - JSON.stringify(base).length;
  base.notes = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(Math.ceil(Math.max(pad, 0) / 57)).slice(0, Math.max(pad, 0));
  return base;
}

async function call(base: string, token: string, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function must(res: Promise<Response>, what: string, okStatuses: number[] = [200, 201]): Promise<Response> {
  const r = await res;
  if (!okStatuses.includes(r.status)) throw new Error(`${what}: HTTP ${r.status} ${await r.text()}`);
  return r;
}

/** Creates the bench's event types; 409 (created by an earlier world of this run) is fine. */
export async function createEventTypes(workerUrl: string, token: string): Promise<void> {
  for (const t of EVENT_TYPES) {
    await must(call(workerUrl, token, "POST", "/v1/event-types", { name: t.name, group: t.group, description: `bench ${t.name}` }), `event type ${t.name}`, [201, 409]);
  }
}

/** Creates the event types (once per database), tenants and endpoints; `tag` keeps worlds apart. */
export async function createWorld(
  workerUrl: string,
  token: string,
  receiverUrl: string,
  opts: { tag: string; tenants: number; endpointsPerTenant: number },
): Promise<World> {
  await createEventTypes(workerUrl, token);
  const tenants: string[] = [];
  const filters = new Map<string, EndpointFilter[]>();
  const jobs: (() => Promise<void>)[] = [];
  for (let i = 0; i < opts.tenants; i++) {
    const tid = `${opts.tag}-t${i}`;
    tenants.push(tid);
    const list: EndpointFilter[] = [];
    filters.set(tid, list);
    await must(call(workerUrl, token, "POST", "/v1/tenants", { id: tid, name: `Bench tenant ${i}` }), `tenant ${tid}`, [201]);
    for (let k = 0; k < opts.endpointsPerTenant; k++) {
      const tpl = FILTERS[(i + k) % FILTERS.length]!;
      list.push(full(tpl.filter));
      jobs.push(async () => {
        await must(
          call(workerUrl, token, "POST", `/v1/tenants/${tid}/endpoints`, {
            url: `${receiverUrl}/r/${tid}/${k}`,
            description: `bench ${tpl.kind}`,
            filter: tpl.filter,
          }),
          `endpoint ${tid}/${k}`,
          [201],
        );
      });
    }
  }
  // Endpoints concurrently (8 at a time): a 50-per-tenant world has 1 000 of them.
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < jobs.length) await jobs[next++]!();
    }),
  );
  return { tag: opts.tag, tenants, filters, endpointCount: opts.tenants * opts.endpointsPerTenant };
}

/** The receiver paths an event of `type` for `tenant` must reach (all endpoints active). */
export function expectedPaths(world: World, tenant: string, type: string): string[] {
  const group = GROUP_OF.get(type) ?? null;
  return (world.filters.get(tenant) ?? []).flatMap((f, k) => (matchesFilter(f, type, group) ? [`/r/${tenant}/${k}`] : []));
}

export interface PlannedEvent {
  i: number;
  id: string;
  tenant: string;
  type: string;
  body: string;
  /** Receiver paths of the endpoints it must reach. */
  expected: string[];
}

/** The events of one load: round-robin tenants, seeded types, host-supplied ids. */
export function planEvents(world: World, idPrefix: string, n: number, seed: number): PlannedEvent[] {
  const rand = prng(seed);
  const out: PlannedEvent[] = [];
  for (let i = 0; i < n; i++) {
    const tenant = world.tenants[i % world.tenants.length]!;
    const type = EVENT_TYPES[Math.floor(rand() * EVENT_TYPES.length)]!.name;
    const id = `${idPrefix}${i}`;
    out.push({ i, id, tenant, type, body: JSON.stringify({ id, type, data: payload(i, type) }), expected: expectedPaths(world, tenant, type) });
  }
  return out;
}
