/**
 * @module The Worker's entry points: HTTP, the deliveries queue and its DLQ, the Cron
 * Trigger, and the TenantLog Durable Object (DESIGN.md "Architecture — data plane v2").
 */
import { createApp } from "./api/app";
import { getConfig } from "./config";
import { handleLogDeliveryBatch } from "./consumers/deliveries";
import { handleLogDeliveryDeadLetters } from "./consumers/dead-letters";
import { continueDeadLetterReplay, type DeadLetterReplayMessage } from "./core/dead-letters";
import { reencryptSecrets } from "./cron/reencrypt";
import { runRetention } from "./cron/retention";
import { consumerRetryDelaySeconds } from "./domain/trouble";
import { pipelineDeps } from "./core/deps";
import { createConsole } from "./console/app";
import { createPortal } from "./portal/app";
import type { LogDeliverMessage } from "./tenant-log/types";

export { TenantLog } from "./tenant-log/tenant-log";
export { SwitchyardEntrypoint } from "./binding/entrypoint";

const app = createApp().route("/portal", createPortal()).route("/console", createConsole());

type DeliveriesQueueMessage = LogDeliverMessage | DeadLetterReplayMessage;

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),

  async queue(batch, env) {
    // Production queue names carry the `switchyard-` prefix (wrangler.toml).
    switch (batch.queue.replace(/^switchyard-/, "")) {
      case "deliveries": {
        const replays = batch.messages.filter((m): m is Message<DeadLetterReplayMessage> => m.body.kind === "replay-dead-letters");
        await Promise.all(replays.map((msg) => replayChunk(msg, env)));
        const deliveries = batch.messages.filter((m): m is Message<LogDeliverMessage> => m.body.kind === "deliver");
        return handleLogDeliveryBatch(subBatch(batch, deliveries), env);
      }
      case "deliveries-dlq":
        return handleLogDeliveryDeadLetters(batch as MessageBatch<LogDeliverMessage>, env);
      default:
        console.error("message from an unknown queue", batch.queue);
        batch.retryAll();
    }
  },

  async scheduled(_controller, env) {
    const config = getConfig(env);
    await runRetention(env, config, Date.now());
    await reencryptSecrets(env.DB, config);
  },
} satisfies ExportedHandler<Env, DeliveriesQueueMessage>;

/** One chunk of a bulk dead-letter replay; our own trouble brings the message back with backoff. */
async function replayChunk(msg: Message<DeadLetterReplayMessage>, env: Env): Promise<void> {
  try {
    await continueDeadLetterReplay(pipelineDeps(env), msg.body);
    msg.ack();
  } catch (err) {
    console.error("dead-letter replay chunk failed; it comes back later", err);
    msg.retry({ delaySeconds: consumerRetryDelaySeconds(msg.attempts, Math.random()) });
  }
}

/** The batch narrowed to some of its messages (acks and retries stay per message). */
function subBatch<B>(batch: MessageBatch<unknown>, messages: Message<B>[]): MessageBatch<B> {
  return {
    queue: batch.queue,
    metadata: batch.metadata,
    messages,
    ackAll: () => messages.forEach((m) => m.ack()),
    retryAll: (options?: QueueRetryOptions) => messages.forEach((m) => m.retry(options)),
  };
}
