/**
 * @module Secrets at rest: endpoint signing secrets and auth values, sealed with SECRETS_KEY.
 */
import type { Config } from "../config";
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

export async function unseal(config: Config, box: string): Promise<string> {
  return decryptSecret(box, keys(config));
}
