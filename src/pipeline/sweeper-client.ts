/**
 * @module Arms the Sweeper from hot paths at most once per 30 s per isolate, so it is
 * never a hot object.
 */

const ARM_INTERVAL_MS = 30_000;
let lastArmed = 0;

/** Asks the Sweeper to set its alarm if none is set; never throws. `force` skips the per-isolate throttle. */
export async function armSweeper(env: Env, now: number, force = false): Promise<void> {
  if (!force && now - lastArmed < ARM_INTERVAL_MS) return;
  lastArmed = now;
  try {
    await env.SWEEPER.getByName("sweeper").arm();
  } catch (err) {
    lastArmed = 0;
    console.error("arming the Sweeper failed", err);
  }
}
