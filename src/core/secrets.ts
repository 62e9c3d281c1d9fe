/**
 * @module Secrets at rest: endpoint signing secrets and auth values, sealed with SECRETS_KEY.
 */
import type { Config } from "../config";
import { AsyncLruCache } from "../domain/async-cache";
import { decryptSecret, encryptSecret } from "../domain/secret-box";
import { AppError } from "../errors";

function keys(config: Config): string[] {
  if (config.secretsKeys.length === 0) {
    throw new AppError(503, "SECRETS_KEY is not configured, so secrets cannot be stored or read.", { retryAfter: 60 });
  }
  return config.secretsKeys;
}

export async function seal(config: Config, plain: string): Promise<string> {
  return encryptSecret(plain, keys(config)[0]!);
}

/**
 * Opened boxes, per isolate: every delivery of an endpoint carries the same sealed secret
 * and auth, so the hot path decrypts each once rather than once per message. Keyed by
 * the keys too, so a box is never opened with keys the config no longer has.
 */
const opened = new AsyncLruCache<string>(1000);

export async function unseal(config: Config, box: string): Promise<string> {
  const current = keys(config);
  return opened.get(`${current.join(",")}\n${box}`, () => decryptSecret(box, current));
}
