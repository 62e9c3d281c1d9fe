/**
 * @module Dependencies of the queue consumers and alarms (the API builds its own per request).
 */
import type { Deps } from "../api/context";
import { getConfig } from "../config";
import { openDb } from "../db/client";

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
