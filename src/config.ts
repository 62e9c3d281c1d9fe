/**
 * @module Typed configuration read from the Worker's vars and secrets.
 */

export interface Config {
  headerPrefix: string;
  eventSource: string;
  maxPayloadBytes: number;
  retentionDays: number;
  deadLetterDays: number;
  autoDisableAfterS: number;
  /** Hours a delivery may be re-driven for our own trouble before it fails with `consumer_error`. */
  consumerGiveUpH: number;
  /** A TenantLog above this many bytes refuses new events (503 `tenant-log-full`). */
  tenantLogFullBytes: number;
  allowPrivateUrls: boolean;
  portalFrameAncestors: string;
  adminToken: string | null;
  /** Current key first, then the previous one during a key rotation; empty when unset. */
  secretsKeys: string[];
}

const cache = new WeakMap<object, Config>();

function int(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return value !== undefined && value !== "" && Number.isFinite(n) ? n : fallback;
}

/** Reads the configuration once per `env` object. */
export function getConfig(env: Env): Config {
  const cached = cache.get(env);
  if (cached) return cached;
  const raw = env as Env & { SECRETS_KEY_PREVIOUS?: string };
  const config: Config = {
    headerPrefix: env.HEADER_PREFIX || "Switchyard",
    eventSource: env.EVENT_SOURCE || "/switchyard",
    maxPayloadBytes: int(env.MAX_PAYLOAD_BYTES, 262_144),
    retentionDays: int(env.RETENTION_DAYS, 30),
    deadLetterDays: int(env.DEAD_LETTER_DAYS, 30),
    autoDisableAfterS: int(env.AUTO_DISABLE_AFTER_S, 432_000),
    consumerGiveUpH: int(env.CONSUMER_GIVE_UP_H, 72),
    tenantLogFullBytes: int((env as Env & { TENANT_LOG_FULL_BYTES?: string }).TENANT_LOG_FULL_BYTES, 9_663_676_416),
    allowPrivateUrls: env.ALLOW_PRIVATE_URLS === "true",
    portalFrameAncestors: env.PORTAL_FRAME_ANCESTORS || "'self'",
    adminToken: env.ADMIN_TOKEN || null,
    secretsKeys: [env.SECRETS_KEY, raw.SECRETS_KEY_PREVIOUS].filter((k): k is string => !!k),
  };
  cache.set(env, config);
  return config;
}
