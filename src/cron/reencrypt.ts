/**
 * @module SECRETS_KEY rotation: moves sealed secrets and auth values still under the
 * previous key to the current one, in bounded batches (each Cron run continues).
 * Until a row is moved, the previous key still opens it, so no delivery fails to sign.
 */
import type { Config } from "../config";
import { boxPrefix, decryptSecret, encryptSecret } from "../domain/secret-box";

export const REENCRYPT_BATCH = 200;

export async function reencryptSecrets(d1: D1Database, config: Config, limit = REENCRYPT_BATCH): Promise<number> {
  const [current, previous] = config.secretsKeys;
  if (!current || !previous) return 0;
  // Only rows sealed under the previous key: a row under any other key cannot be opened
  // with this configuration, and selecting it ("NOT LIKE current") made every run throw
  // on it and stall every row queued behind it.
  const prefix = `${await boxPrefix(previous)}%`;
  const secrets = await d1
    .prepare(`SELECT seq AS k, secret_box AS box FROM endpoint_secrets WHERE secret_box LIKE ? LIMIT ?`)
    .bind(prefix, limit)
    .all<{ k: number; box: string }>();
  const auths = await d1
    .prepare(`SELECT id AS k, auth_box AS box FROM endpoints WHERE auth_box IS NOT NULL AND auth_box LIKE ? LIMIT ?`)
    .bind(prefix, limit)
    .all<{ k: string; box: string }>();
  const stmts: D1PreparedStatement[] = [];
  for (const r of secrets.results) {
    const sealed = await encryptSecret(await decryptSecret(r.box, config.secretsKeys), current);
    // Conditional on the old box, so a rotation that raced this job is not undone.
    stmts.push(d1.prepare(`UPDATE endpoint_secrets SET secret_box = ? WHERE seq = ? AND secret_box = ?`).bind(sealed, r.k, r.box));
  }
  for (const r of auths.results) {
    const sealed = await encryptSecret(await decryptSecret(r.box, config.secretsKeys), current);
    stmts.push(d1.prepare(`UPDATE endpoints SET auth_box = ? WHERE id = ? AND auth_box = ?`).bind(sealed, r.k, r.box));
  }
  if (stmts.length) await d1.batch(stmts);
  return stmts.length;
}
