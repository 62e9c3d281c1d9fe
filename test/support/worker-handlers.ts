/**
 * @module The Worker's queue and scheduled handlers as tests call them through
 * `exports.default`. Workerd exposes them only with the experimental
 * `service_binding_extra_handlers` flag, which lives in the test pool's Miniflare options
 * (vitest.config.ts), never in wrangler.toml; `wrangler types` therefore does not declare
 * them, so they are typed once here.
 */
import { exports } from "cloudflare:workers";

export interface QueueMessageInput<B = unknown> {
  id: string;
  timestamp: Date;
  attempts: number;
  body: B;
}

export interface QueueHandlerResult {
  outcome: string;
  ackAll: boolean;
  retryBatch: { retry: boolean; delaySeconds?: number };
  explicitAcks: string[];
  retryMessages: { msgId: string; delaySeconds?: number }[];
}

interface ExtraHandlers {
  queue(queueName: string, messages: QueueMessageInput[]): Promise<QueueHandlerResult>;
  scheduled(options?: { scheduledTime?: Date; cron?: string }): Promise<{ outcome: string; noRetry: boolean }>;
}

/** `exports.default` with its queue and scheduled handlers. */
export const worker = exports.default as unknown as ExtraHandlers;
