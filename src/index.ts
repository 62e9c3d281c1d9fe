/**
 * @module The Worker's entry points: HTTP, the four queues, the Cron Trigger, and the
 * Durable Objects.
 */
import { createApp } from "./api/app";
import { getConfig } from "./config";
import { reencryptSecrets } from "./cron/reencrypt";
import { runRetention } from "./cron/retention";
import { handleDeliveryBatch } from "./pipeline/deliver";
import { handleDeliveryDeadLetters, handleFanoutDeadLetters } from "./pipeline/dead-letter";
import { handleFanoutBatch } from "./pipeline/fanout";
import { createPortal } from "./portal/app";
import type { DeliverMessage, FanoutQueueMessage } from "./pipeline/messages";
import { armSweeper } from "./pipeline/sweeper-client";

export { EndpointDO } from "./endpoint-do/endpoint-do";
export { Sweeper } from "./pipeline/sweeper";
export { TenantLog } from "./tenant-log/tenant-log";

const app = createApp().route("/portal", createPortal());

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),

  async queue(batch, env) {
    // Production queue names carry the `switchyard-` prefix (wrangler.toml).
    switch (batch.queue.replace(/^switchyard-/, "")) {
      case "fanout":
        return handleFanoutBatch(batch as MessageBatch<FanoutQueueMessage>, env);
      case "deliveries":
        return handleDeliveryBatch(batch as MessageBatch<DeliverMessage>, env);
      case "fanout-dlq":
        return handleFanoutDeadLetters(batch as MessageBatch<FanoutQueueMessage>, env);
      case "deliveries-dlq":
        return handleDeliveryDeadLetters(batch as MessageBatch<DeliverMessage>, env);
      default:
        console.error("message from an unknown queue", batch.queue);
        batch.retryAll();
    }
  },

  async scheduled(_controller, env) {
    await armSweeper(env, Date.now(), true);
    const config = getConfig(env);
    await runRetention(env, config, Date.now());
    await reencryptSecrets(env.DB, config);
  },
} satisfies ExportedHandler<Env, FanoutQueueMessage | DeliverMessage>;
