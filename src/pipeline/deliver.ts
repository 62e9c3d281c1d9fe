/**
 * @module The delivery consumer: load → (EndpointDO: may it start?) → sign → send →
 * record → ack. A webhook retry is a new message; `msg.retry()` only when the consumer
 * itself failed, so the queue's max_retries bounds consumer failures, never attempts.
 */
import type { Deps } from "../api/context";
import { endpointAuth, type EndpointAuth } from "../core/endpoints";
import { unseal } from "../core/secrets";
import { classifyAttempt, honouredRetryAfter } from "../domain/outcome";
import { DEFAULT_RETRY_SCHEDULE, nextRetryWait } from "../domain/retry-schedule";
import { checkEndpointUrl } from "../domain/url-policy";
import {
  attemptRecorded,
  loadDeliveryContexts,
  outcomeStatements,
  parkDelivery,
  runBatch,
  type DeliveryContext,
  type OutcomeWrite,
} from "../db/queries/deliveries";
import type { DeliveryReason } from "../db/schema";
import { sendRequest } from "../outbound/send";
import { disableEndpoint } from "./auto-disable";
import { pipelineDeps, runPool, writeWithRetries } from "./deps";
import { consumerRetryDelaySeconds } from "../domain/trouble";
import { gateThroughEndpointDO, needsEndpointDO, reportToEndpointDO, wakeEndpointDOs } from "./endpoint-gate";
import { enqueueDeliveries, enqueueFanouts, type DeliverMessage } from "./messages";
import { deliveryFailedStatement, emitsDeliveryFailed, insertedEventSeqs } from "./operational";
import { attemptRecordOf, buildRequest } from "./request";
import { armSweeper } from "./sweeper-client";

/** A Worker invocation holds at most 6 outbound connections. */
const MAX_CONCURRENT_SENDS = 6;

export async function handleDeliveryBatch(batch: MessageBatch<DeliverMessage>, env: Env): Promise<void> {
  const deps = pipelineDeps(env);
  // Null when the shared load failed: then each message loads its own row below, so one
  // row that cannot be read (or a D1 error) retries only its own messages. Retrying the
  // whole batch let one poisoned delivery take every message batched with it to the DLQ.
  let contexts: Map<number, DeliveryContext> | null;
  try {
    contexts = await loadDeliveryContexts(deps.db, batch.messages.map((m) => m.body.d), deps.now);
  } catch (err) {
    console.error("loading deliveries failed; loading them one by one", err);
    contexts = null;
  }
  // Copies of one (delivery, generation) in the same batch (a retried fan-out re-sends its
  // messages, the queue redelivers) share one context loaded before any of them ran, so
  // running each would send the request once per copy. Run one per group; the copies
  // share its ack or retry.
  const groups = new Map<string, Message<DeliverMessage>[]>();
  for (const msg of batch.messages) {
    const key = `${msg.body.d}:${msg.body.g}`;
    const group = groups.get(key);
    if (group) group.push(msg);
    else groups.set(key, [msg]);
  }
  await runPool([...groups.values()], MAX_CONCURRENT_SENDS, async (copies) => {
    const msg = copies[0]!;
    try {
      const ctx = contexts ? contexts.get(msg.body.d) : (await loadDeliveryContexts(deps.db, [msg.body.d], Date.now())).get(msg.body.d);
      await processDelivery({ ...deps, now: Date.now() }, msg.body, ctx, msg.attempts > 1);
      for (const m of copies) m.ack();
    } catch (err) {
      // Our own trouble (D1, a Durable Object, a queue send, SECRETS_KEY): never an
      // attempt, never a failure; the message comes back later (src/domain/trouble.ts).
      console.error("delivery consumer failed; retrying later", msg.body, err);
      const delaySeconds = consumerRetryDelaySeconds(msg.attempts, Math.random());
      for (const m of copies) m.retry({ delaySeconds });
    }
  });
  await armSweeper(env, Date.now());
}

/** One message: everything up to and including the outcome write (ack follows). */
export async function processDelivery(deps: Deps, msg: DeliverMessage, ctx: DeliveryContext | undefined, redelivered = false): Promise<void> {
  if (!ctx) return; // purged
  const { delivery, endpoint } = ctx;
  if (delivery.status !== "pending" || delivery.generation !== msg.g) {
    // Stale. A redelivered message of a FIFO line may be the one whose `finished` call
    // failed after its outcome committed: wake the line, or it waits for unrelated traffic.
    if (redelivered && delivery.lineSeq !== null) await wakeEndpointDOs(deps, [endpoint.id]);
    return;
  }
  if (endpoint.deletedAt !== null) return; // cancelled with its endpoint
  if (delivery.nextAttemptAt === null) return; // parked: whoever frees it enqueues it
  if (delivery.nextAttemptAt > deps.now + 500) {
    // Early (a wait beyond the queue's maximum delay, or a cut-short retry raced): wait again.
    await enqueueDeliveries(deps.env.DELIVERY_QUEUE, [{ d: delivery.seq, g: delivery.generation, delaySeconds: (delivery.nextAttemptAt - deps.now) / 1000 }]);
    return;
  }
  if (endpoint.status === "paused") {
    await parkDelivery(deps.db, delivery.seq, delivery.generation);
    return;
  }
  if (endpoint.status === "disabled") return recordWithoutAttempt(deps, ctx, "endpoint_disabled");
  const url = checkEndpointUrl(endpoint.url, deps.config.allowPrivateUrls);
  if (!url.ok) {
    await recordWithoutAttempt(deps, ctx, "url_not_allowed");
    // It failed for good, so it no longer holds its FIFO line.
    if (delivery.lineSeq !== null) await wakeEndpointDOs(deps, [endpoint.id]);
    return;
  }

  // Decrypted before asking the DO, so that after a rate-limit wait only signing and the
  // fetch stand between the admitted start time and the real start.
  const keys: SigningKeys = {
    secrets: await Promise.all(ctx.secretBoxes.map((box) => unseal(deps.config, box))),
    auth: await endpointAuth(deps, endpoint),
  };
  const ordered = needsEndpointDO(endpoint, delivery);
  if (ordered) {
    const admitted = await gateThroughEndpointDO(deps, ctx);
    if (!admitted) return;
  }
  await attempt(deps, ctx, keys);
  if (ordered) await reportToEndpointDO(deps, ctx);
}

interface SigningKeys {
  secrets: string[];
  auth: EndpointAuth | null;
}

/** Fails the delivery at once, sending nothing and counting no attempt. */
async function recordWithoutAttempt(deps: Deps, ctx: DeliveryContext, reason: DeliveryReason): Promise<void> {
  await record(deps, ctx, {
    deliverySeq: ctx.delivery.seq,
    generation: ctx.delivery.generation,
    attemptsBefore: ctx.delivery.attempts,
    attempt: null,
    status: "failed",
    reason,
    nextAttemptAt: null,
    now: deps.now,
  });
}

/** Sends one attempt and records it. */
async function attempt(deps: Deps, ctx: DeliveryContext, keys: SigningKeys): Promise<void> {
  const { delivery, endpoint, event } = ctx;
  const n = delivery.attempts + 1;
  const { request, loggedHeaders } = await buildRequest({
    config: deps.config,
    endpoint,
    event,
    secrets: keys.secrets,
    auth: keys.auth,
    attempt: n,
    now: Date.now(),
  });
  const sent = await sendRequest(request);
  const verdict = classifyAttempt(sent.result);
  const now = Date.now();
  const base = { deliverySeq: delivery.seq, generation: delivery.generation, attemptsBefore: delivery.attempts, attempt: attemptRecordOf(n, sent, request, loggedHeaders), now };
  let write: OutcomeWrite;
  if (verdict.outcome === "success") {
    write = { ...base, status: "delivered", reason: null, nextAttemptAt: null };
  } else if (verdict.outcome === "final") {
    write = { ...base, status: "failed", reason: "non_retryable_status", nextAttemptAt: null };
  } else {
    const wait = nextRetryWait({
      schedule: endpoint.retrySchedule ?? DEFAULT_RETRY_SCHEDULE,
      attemptsThisRun: n - delivery.runStart,
      retryAfterSeconds: honouredRetryAfter(sent.result),
      random: Math.random(),
    });
    write =
      wait === null
        ? { ...base, status: "failed", reason: "retries_exhausted", nextAttemptAt: null }
        : { ...base, status: "pending", reason: null, nextAttemptAt: now + Math.round(wait * 1000) };
  }
  await record({ ...deps, now }, ctx, write);
}

/**
 * Writes the attempt and outcome (one transaction), then sends what follows from it:
 * the retry message, operational events, auto-disable.
 */
async function record(deps: Deps, ctx: DeliveryContext, write: OutcomeWrite): Promise<void> {
  const { delivery, endpoint, event } = ctx;
  const d1 = deps.db.$client;
  const stmts = outcomeStatements(deps.db, write);
  const attempted = write.attempt !== null;
  const succeeded = write.status === "delivered";
  const failedAttempt = attempted && !succeeded;
  if (succeeded && endpoint.failingSince !== null) {
    stmts.push(d1.prepare(`UPDATE endpoints SET failing_since = NULL WHERE id = ? AND failing_since IS NOT NULL`).bind(endpoint.id));
  }
  if (failedAttempt && endpoint.failingSince === null) {
    stmts.push(d1.prepare(`UPDATE endpoints SET failing_since = ? WHERE id = ? AND failing_since IS NULL`).bind(write.now, endpoint.id));
  }
  const attempts = write.attemptsBefore + (attempted ? 1 : 0);
  const opIndex = stmts.length;
  if (write.status === "failed" && write.reason && emitsDeliveryFailed({ tenantId: delivery.tenantId, test: delivery.test, reason: write.reason })) {
    stmts.push(
      deliveryFailedStatement(
        deps.db,
        {
          tenant_id: delivery.tenantId,
          endpoint_id: endpoint.id,
          deliverySeq: delivery.seq,
          event_id: event.id,
          event_type: event.type,
          reason: write.reason,
          attempts,
          last_response_status: write.attempt?.responseStatus ?? delivery.responseStatus,
        },
        write.generation,
        write.now,
      ),
    );
  }
  // After a send, the write is retried in process: handing the message back would send
  // the webhook again. A retry after a write that committed but answered an error finds
  // nothing to update, so it asks whether its attempt row landed.
  // (An operational event of a write that committed that way is fanned out by the Sweeper.)
  const attemptWritten = write.attempt;
  const { results, updated } = await writeWithRetries(async (retry) => {
    const results = await runBatch(deps.db, stmts);
    const changed = (results[attemptWritten ? 1 : 0]?.meta.changes ?? 0) > 0;
    return { results, updated: changed || (retry > 0 && attemptWritten !== null && (await attemptRecorded(deps.db, write.deliverySeq, attemptWritten))) };
  }, attemptWritten !== null);
  if (!updated) return; // a newer generation owns the delivery now
  if (write.status === "pending" && write.nextAttemptAt !== null) {
    await enqueueDeliveries(deps.env.DELIVERY_QUEUE, [{ d: delivery.seq, g: write.generation, delaySeconds: (write.nextAttemptAt - write.now) / 1000 }]);
  }
  const opSeqs = insertedEventSeqs(results.slice(opIndex));
  if (opSeqs.length) await enqueueFanouts(deps.env.FANOUT_QUEUE, opSeqs).catch((err) => console.error("operational fanout send failed; the Sweeper will retry", err));
  if (failedAttempt && !delivery.test) {
    const failingSince = endpoint.failingSince ?? write.now;
    if (write.now - failingSince >= deps.config.autoDisableAfterS * 1000) await disableEndpoint(deps, endpoint, failingSince);
  }
}

