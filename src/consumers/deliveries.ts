/**
 * @module The data plane v2 delivery consumer (DESIGN.md "Architecture — data plane v2",
 * docs/data-plane-v2.md "Messages, claim, record"): group the batch by tenant → ONE
 * `claim` per tenant → sign and send each `go` (≤ 6 at once) → ONE `record` per tenant →
 * enqueue its retries and released FIFO heads → ack. A webhook retry is a new message;
 * `msg.retry()` is only for our own trouble (D1, the TenantLog, a queue send, SECRETS_KEY),
 * so the queue's max_retries bounds our failures, never attempts.
 *
 * One invocation sends at most MAX_SENDS_PER_ENDPOINT requests to one endpoint at a time
 * (DESIGN.md "Delivery rules", circuit breaker), and once one of them got no answer at all,
 * none more: that endpoint's unsent deliveries of the batch go back as new messages a
 * second or two later, no attempt spent, so a hanging endpoint holds an invocation for about
 * one timeout, not for its whole share of the batch, while a healthy endpoint's backlog is
 * sent in one invocation (deferring every send past the second would re-send a burst's
 * messages over and over). Each outcome says whether the attempt got no answer
 * (`unreachable`: what the TenantLog's circuit counts).
 *
 * Messages naming a deleted tenant are acked without calling its TenantLog (a call would
 * re-create the object: ./tenants). After each tenant's `record`, its attempts update the
 * endpoints' `failing_since` and auto-disable (./endpoint-health), and the circuits the
 * record opened or closed reach D1's endpoint rows and `_operator` (./circuits). Once
 * everything is acked, the invocation's attempts become metric data points (./metrics).
 */
import type { Deps } from "../core/deps";
import { endpointAuth, type EndpointAuth } from "../core/endpoints";
import { unseal } from "../core/secrets";
import type { DeliveryEvent } from "../domain/attempt";
import { findEndpointById, validSecrets, type EndpointRow } from "../db/queries/endpoints";
import { ValueCache } from "../domain/async-cache";
import { classifyAttempt, honouredRetryAfter } from "../domain/outcome";
import { isUnreachable } from "../domain/circuit";
import { DEFAULT_RETRY_SCHEDULE, nextRetryWait } from "../domain/retry-schedule";
import { rateSpacingMs } from "../domain/rate-limit";
import { checkEndpointUrl } from "../domain/url-policy";
import { sendRequest, type OutboundRequest, type OutboundResult } from "../outbound/send";
import { pipelineDeps, writeWithRetries } from "../core/deps";
import { attemptRecordOf, buildRequest } from "../outbound/request";
import type { AttemptRecord } from "../domain/attempt";
import type { CircuitChange, ClaimedEvent, ClaimVerdict, DeliveryJob, LogDeliverMessage, Outcome, RecordResult } from "../tenant-log/types";
import { noteEndpointLoaded, trackEndpointHealth, type AttemptSeen } from "./endpoint-health";
import { mirrorCircuits } from "./circuits";
import { writeAttemptMetrics, type AttemptMade } from "./metrics";
import { enqueueJobs } from "../core/jobs";
import { distinctJobs, groupByTenant, retryLater } from "./messages";
import { tenantsBySeq } from "./tenants";

/** A Worker invocation holds at most 6 outbound connections (DESIGN "Platform facts"). */
const MAX_SENDS = 6;
/** Requests to one endpoint at once per invocation: one slow endpoint never holds all six lanes (DESIGN "Delivery rules", circuit breaker). */
export const MAX_SENDS_PER_ENDPOINT = 2;
/** How soon a delivery held back from an unanswering endpoint comes back (its claim then parks it if the circuit opened). */
const DEFERRED_DELAY_MS = { min: 1000, max: 2000 };

type Go = Extract<ClaimVerdict, { kind: "go" }>;

/** One tenant's share of the batch, from its claim to its acks. */
interface TenantWork {
  t: number;
  /** The live tenant's id (operational events name it). */
  tenantId: string;
  messages: Message<LogDeliverMessage>[];
  log: ReturnType<Env["TENANT_LOG"]["getByName"]>;
  /** Null when the claim failed: every message of the tenant goes back to the queue. */
  sends: Send[] | null;
  /** Jobs the log asked to see again later (not due yet, or their line held by another copy). */
  later: { job: DeliveryJob; delayMs: number }[];
}

interface Send {
  go: Go;
  event: ClaimedEvent;
  result?: SendResult;
}

type SendResult =
  /** An outcome to record: an attempt, or a failure without one (the URL policy refused the URL). */
  | { kind: "attempted"; outcome: Outcome }
  /** Our own trouble before the request (D1, SECRETS_KEY, signing): nothing was sent. */
  | { kind: "trouble" }
  /** Not sent: its endpoint left an attempt of this invocation unanswered. Sent again shortly as a new message. */
  | { kind: "deferred" };

export async function handleLogDeliveryBatch(batch: MessageBatch<LogDeliverMessage>, env: Env): Promise<void> {
  const deps = pipelineDeps(env);
  const groups = groupByTenant(batch.messages);
  let identities: Awaited<ReturnType<typeof tenantsBySeq>>;
  try {
    identities = await tenantsBySeq(deps.db, groups.keys());
  } catch (err) {
    console.error("reading which tenants are live failed; the batch comes back later", err);
    return retryLater(batch.messages);
  }
  const tenants: TenantWork[] = [];
  for (const [t, messages] of groups) {
    const identity = identities.get(t);
    if (!identity) {
      // The tenant is deleted: its log was deleted with it, and a call would re-create it.
      for (const msg of messages) msg.ack();
      continue;
    }
    tenants.push({ t, tenantId: identity.tenantId, messages, log: env.TENANT_LOG.getByName(String(t)), sends: null, later: [] });
  }
  await Promise.all(tenants.map((tenant) => claimFor(tenant)));
  await sendAll(deps, tenants.flatMap((tenant) => tenant.sends ?? []));
  await Promise.all(tenants.map((tenant) => settle(deps, tenant)));
  // After the acks, so metrics never hold a delivery back (docs/metrics.md).
  writeAttemptMetrics(env.METRICS, tenants.flatMap(attemptsMade));
}

/** The requests this invocation sent for the tenant, for its metric data points. */
function attemptsMade(tenant: TenantWork): AttemptMade[] {
  return (tenant.sends ?? []).flatMap((s) => (s.result?.kind === "attempted" ? [{ tenantId: tenant.tenantId, endpointId: s.go.endpointId, eventType: s.event.type, outcome: s.result.outcome }] : []));
}

/** The key of one delivery at one generation: copies of a message share it. */
const jobKey = (e: number, ordinal: number, g: number) => `${e}:${ordinal}:${g}`;

/** One claim for the tenant; `stale` and `parked` verdicts need nothing more than the ack, `later` a new message. */
async function claimFor(tenant: TenantWork): Promise<void> {
  try {
    const { verdicts, events } = await tenant.log.claim(distinctJobs(tenant.messages), Date.now());
    const eventsBySeq = new Map(events.map((ev) => [ev.seq, ev]));
    tenant.sends = verdicts.filter((v): v is Go => v.kind === "go").map((go) => ({ go, event: eventsBySeq.get(go.e)! }));
    for (const v of verdicts) if (v.kind === "later") tenant.later.push({ job: { e: v.e, p: [v.ordinal], g: latestGeneration(tenant.messages, v.e, v.ordinal) }, delayMs: v.delayMs });
  } catch (err) {
    console.error(`claim failed for tenant ${tenant.t}; its messages come back later`, err);
  }
}

/**
 * Sends every claimed delivery of the batch, whatever its tenant: at most MAX_SENDS at
 * once, at most MAX_SENDS_PER_ENDPOINT to one endpoint; once an endpoint left an attempt
 * unanswered, its sends not yet started are `deferred`. Rate-limited starts come last, so a
 * lane waiting for its slot holds no earlier start back.
 */
async function sendAll(deps: Deps, sends: Send[]): Promise<void> {
  const queue = [...sends].sort((a, b) => a.go.startAt - b.go.startAt);
  const inFlight = new Map<string, number>();
  const unanswering = new Set<string>();
  const paced = new Map<string, number>();
  const running = new Set<Promise<void>>();
  while (queue.length > 0 || running.size > 0) {
    for (let i = queue.length - 1; i >= 0; i--) {
      if (unanswering.has(queue[i]!.go.endpointId)) queue.splice(i, 1)[0]!.result = { kind: "deferred" };
    }
    const next = running.size < MAX_SENDS ? queue.findIndex((s) => (inFlight.get(s.go.endpointId) ?? 0) < MAX_SENDS_PER_ENDPOINT) : -1;
    if (next === -1) {
      if (running.size === 0) break;
      await Promise.race(running);
      continue;
    }
    const [send] = queue.splice(next, 1) as [Send];
    const endpointId = send.go.endpointId;
    inFlight.set(endpointId, (inFlight.get(endpointId) ?? 0) + 1);
    const lane: Promise<void> = attempt(deps, send.go, send.event, paced).then((result) => {
      send.result = result;
      if (result.kind === "attempted" && result.outcome.unreachable) unanswering.add(endpointId);
      inFlight.set(endpointId, inFlight.get(endpointId)! - 1);
      running.delete(lane);
    });
    running.add(lane);
  }
}

/** One delivery: everything that is ours first (settings, URL policy, keys, signing), then the request. */
/**
 * `paced`: the latest start this invocation reserved per rate-limited endpoint. The claim
 * spaced the admitted start times, but a start that ran late (a cold settings cache) would
 * bring the next one closer than 1/r: each start keeps the spacing from the one before it.
 */
async function attempt(deps: Deps, go: Go, event: ClaimedEvent, paced: Map<string, number>): Promise<SendResult> {
  const n = go.attemptsBefore + 1;
  let settings: SendSettings;
  let built: { request: OutboundRequest; loggedHeaders: Record<string, string> };
  try {
    settings = await sendSettings(deps, go);
    if (!checkEndpointUrl(settings.endpoint.url, deps.config.allowPrivateUrls).ok) {
      // DESIGN "URL policy at send time": nothing sent, no attempt counted, failed at once.
      return { kind: "attempted", outcome: { ...outcomeBase(go, null), status: "failed", reason: "url_not_allowed", nextAttemptAt: null } };
    }
    // Decrypted before the rate-slot wait, so only signing and the fetch stand between the
    // admitted start time and the real start.
    const keys = await signingKeys(deps, settings);
    let startAt = go.startAt;
    if (settings.endpoint.rateLimit !== null) {
      startAt = Math.max(startAt, Date.now(), (paced.get(go.endpointId) ?? -Infinity) + rateSpacingMs(settings.endpoint.rateLimit));
      paced.set(go.endpointId, startAt);
    }
    await sleepUntil(startAt);
    built = await buildRequest({ config: deps.config, endpoint: settings.endpoint, event: deliveryEventOf(event), secrets: keys.secrets, auth: keys.auth, attempt: n, now: Date.now() });
  } catch (err) {
    console.error(`preparing delivery ${go.e}/${go.ordinal} failed; its message comes back later`, err);
    return { kind: "trouble" };
  }
  const sent = await sendRequest(built.request);
  return { kind: "attempted", outcome: { ...outcomeOf(go, settings.endpoint, sent, attemptRecordOf(n, sent, built.request, built.loggedHeaders)), unreachable: isUnreachable(sent.result) } };
}

/** How to send to an endpoint, from D1; the TenantLog decides whether and when. */
interface SendSettings {
  endpoint: EndpointRow;
  /** Sealed secrets, current first, with the end of their grace period. */
  secrets: { box: string; expiresAt: number | null }[];
}

/**
 * Per isolate, keyed by the endpoint version the claim reported: a change through the API
 * bumps the version, so the hot path reads D1 only to refill this.
 */
const settingsCache = new ValueCache<SendSettings>(1000);

function sendSettings(deps: Deps, go: Go): Promise<SendSettings> {
  return settingsCache.get(`${go.endpointId}@${go.version}`, () => loadSendSettings(deps, go.endpointId));
}

async function loadSendSettings(deps: Deps, endpointId: string): Promise<SendSettings> {
  const loadedAt = Date.now();
  const [endpoint, secrets] = await Promise.all([findEndpointById(deps.db, endpointId), validSecrets(deps.db, endpointId, loadedAt)]);
  // The log still says `go`: its sync of this change has not landed yet. Ask again later
  // rather than send to an endpoint that is gone (a rejected load is not cached).
  if (!endpoint || endpoint.deletedAt !== null) throw new Error(`endpoint ${endpointId} is not live in D1`);
  noteEndpointLoaded(endpoint, loadedAt);
  return { endpoint, secrets: secrets.map((s) => ({ box: s.secretBox, expiresAt: s.expiresAt })) };
}

/** The secrets still valid now (a cached entry outlives a grace period) and the auth, opened. */
async function signingKeys(deps: Deps, settings: SendSettings): Promise<{ secrets: string[]; auth: EndpointAuth | null }> {
  const now = Date.now();
  const valid = settings.secrets.filter((s) => s.expiresAt === null || s.expiresAt > now);
  return {
    secrets: await Promise.all(valid.map((s) => unseal(deps.config, s.box))),
    auth: await endpointAuth(deps, settings.endpoint),
  };
}

/** A rate slot under a second away is served here, by the message that claimed it. */
async function sleepUntil(at: number): Promise<void> {
  const wait = at - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

function deliveryEventOf(event: ClaimedEvent): DeliveryEvent {
  return { seq: event.seq, id: event.id, type: event.type, data: event.dataJson, occurredAt: event.occurredAt, createdAt: event.createdAt };
}

/** What the attempt means for its delivery (DESIGN "Delivery rules": outcome, attempts, schedule). */
function outcomeBase(go: Go, attempt: AttemptRecord | null) {
  return { e: go.e, ordinal: go.ordinal, generation: go.generation, attemptsBefore: go.attemptsBefore, runStart: go.runStart, attempt };
}

function outcomeOf(go: Go, endpoint: EndpointRow, sent: OutboundResult, attemptRecord: AttemptRecord): Outcome {
  const base = outcomeBase(go, attemptRecord);
  const verdict = classifyAttempt(sent.result);
  if (verdict.outcome === "success") return { ...base, status: "delivered", reason: null, nextAttemptAt: null };
  if (verdict.outcome === "final") return { ...base, status: "failed", reason: "non_retryable_status", nextAttemptAt: null };
  const wait = nextRetryWait({
    schedule: endpoint.retrySchedule ?? DEFAULT_RETRY_SCHEDULE,
    attemptsThisRun: attemptRecord.n - go.runStart,
    retryAfterSeconds: honouredRetryAfter(sent.result),
    random: Math.random(),
  });
  if (wait === null) return { ...base, status: "failed", reason: "retries_exhausted", nextAttemptAt: null };
  // From the end of the attempt: `record` answers the same wait back as the retry's delay.
  return { ...base, status: "pending", reason: null, nextAttemptAt: sent.startedAt + sent.durationMs + Math.round(wait * 1000) };
}

/**
 * Records the tenant's attempts, enqueues what follows from them, then acks. The record is
 * retried in process: handing the messages back would send the webhooks again.
 */
async function settle(deps: Deps, tenant: TenantWork): Promise<void> {
  if (tenant.sends === null) return retryLater(tenant.messages);
  const outcomes = tenant.sends.flatMap((s) => (s.result?.kind === "attempted" ? [s.result.outcome] : []));
  let circuits: CircuitChange[] = [];
  const mirror = () => mirrorCircuits(deps, { t: tenant.t, tenantId: tenant.tenantId }, circuits, (endpointId) => urlOf(deps, tenant.sends!, endpointId));
  try {
    const recorded: RecordResult = outcomes.length > 0 ? await writeWithRetries(() => tenant.log.record(outcomes)) : { recorded: 0, retries: [], released: [] };
    circuits = recorded.circuits ?? [];
    const again = tenant.later.map(({ job, delayMs }) => ({ ...job, delayMs }));
    for (const s of tenant.sends) {
      if (s.result?.kind === "deferred") again.push({ e: s.go.e, p: [s.go.ordinal], g: s.go.generation, delayMs: DEFERRED_DELAY_MS.min + Math.random() * (DEFERRED_DELAY_MS.max - DEFERRED_DELAY_MS.min) });
    }
    // Retried in process too: handed back, the messages would find their outcomes recorded
    // (stale) and the retries and released heads would wait for the log's 15-minute re-drive.
    await writeWithRetries(() => enqueueJobs(deps.env.DELIVERY_QUEUE, tenant.t, [...recorded.retries, ...again], recorded.released));
  } catch (err) {
    console.error(`recording or enqueueing failed for tenant ${tenant.t}; its messages come back later`, err);
    // A change the record made is reported once, here: the messages' copies find it recorded.
    await mirror();
    return retryLater(tenant.messages);
  }
  // After the record: a copy of these messages would find its delivery recorded (stale), so
  // this never holds the acks back; a write it loses is redone at the endpoint's next attempt
  // (a circuit's D1 row at its next change). The log decides; D1 and `_operator` mirror it.
  await Promise.all([trackEndpointHealth(deps, { t: tenant.t, tenantId: tenant.tenantId }, attemptsSeen(tenant.sends)), mirror()]);
  // Nothing was sent for these, for our own trouble: they come back later.
  const notSent = new Set(tenant.sends.filter((s) => s.result?.kind === "trouble" || s.result === undefined).map((s) => jobKey(s.go.e, s.go.ordinal, s.go.generation)));
  const [back, done] = partition(tenant.messages, (msg) => msg.body.p.some((ordinal) => notSent.has(jobKey(msg.body.e, ordinal, msg.body.g))));
  retryLater(back);
  for (const msg of done) msg.ack();
}

/** The URL of an endpoint this batch sent to (its send settings, cached; D1 when evicted since). */
async function urlOf(deps: Deps, sends: readonly Send[], endpointId: string): Promise<string | null> {
  const send = sends.find((s) => s.go.endpointId === endpointId);
  return send ? (await sendSettings(deps, send.go)).endpoint.url : null;
}

/**
 * The attempts that were made, for `failing_since`: a request that was started, whatever its
 * answer (an outcome without one, such as `url_not_allowed`, says nothing about the receiver).
 */
function attemptsSeen(sends: readonly Send[]): AttemptSeen[] {
  return sends.flatMap((s) => {
    const outcome = s.result?.kind === "attempted" ? s.result.outcome : undefined;
    const a = outcome?.attempt;
    return outcome && a ? [{ endpointId: s.go.endpointId, version: s.go.version, ok: outcome.status === "delivered", at: a.startedAt + a.durationMs }] : [];
  });
}

function partition<T>(items: readonly T[], test: (item: T) => boolean): [T[], T[]] {
  const yes: T[] = [];
  const no: T[] = [];
  for (const item of items) (test(item) ? yes : no).push(item);
  return [yes, no];
}

/** The generation the batch's messages named for this delivery (a `later` job is sent again as it came). */
function latestGeneration(messages: readonly Message<LogDeliverMessage>[], e: number, ordinal: number): number {
  let g = 0;
  for (const { body } of messages) if (body.e === e && body.p.includes(ordinal)) g = Math.max(g, body.g);
  return g;
}
