/**
 * @module The dependencies every core verb takes, and those of the queue consumers and alarms (the API builds its own per request).
 */
import { getConfig, type Config } from "../config";
import { openDb, type Db } from "../db/client";

/** The dependencies the core functions take, built per request (API) or per invocation (consumers, alarms). */
export interface Deps {
  db: Db;
  env: Env;
  config: Config;
  now: number;
}

export function pipelineDeps(env: Env, now = Date.now()): Deps {
  return { db: openDb(env.DB), env, config: getConfig(env), now };
}

/** Runs `work` over `items` with at most `limit` in flight (a Worker holds ≤ 6 outbound connections). */
export async function runPool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await work(item);
    }
  });
  await Promise.all(lanes);
}

/** Pauses between in-process tries of a write that must not be lost (about 4 s in all). */
const IN_PROCESS_RETRY_MS = [250, 1000, 3000];

/**
 * Runs `write`, trying again in process after a failure: used where giving the message
 * back to the queue would cost more than waiting (an outcome after a send: the retried
 * message would send the webhook again). With `enabled` false it tries once. Throws the
 * last error.
 */
export async function writeWithRetries<T>(write: (retry: number) => Promise<T>, enabled = true): Promise<T> {
  for (let retry = 0; ; retry++) {
    try {
      return await write(retry);
    } catch (err) {
      const pause = enabled ? IN_PROCESS_RETRY_MS[retry] : undefined;
      if (pause === undefined) throw err;
      console.error(`write failed; trying again in ${pause} ms`, err);
      await new Promise((r) => setTimeout(r, pause));
    }
  }
}
