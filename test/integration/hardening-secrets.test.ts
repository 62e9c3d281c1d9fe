/**
 * Secrets (issue 13, item 7):
 *   - after endpoints with generated and supplied secrets (all three signature profiles, a
 *     rotation with a grace period), bearer and basic auth, FIFO and rate-limited endpoints
 *     (so the tenant's TenantLog holds their snapshots and lines), deliveries and test sends
 *     (so attempts record their headers), API keys and a portal link: a dump of every D1
 *     table (every column of every row) and of the storage of every Durable Object involved
 *     (the tenant's TenantLog and `_operator`'s: every table, KV and alarm) holds no secret,
 *     token, password, API key, SECRETS_KEY or portal token — in clear, in base64,
 *     base64url or hex (DESIGN.md "Storage and retention");
 *   - API keys are stored only as their SHA-256 hash;
 *   - SECRETS_KEY rotation K1 → K2: with [K2, K1] every delivery still signs (verified by
 *     the `standardwebhooks` package and by recomputing the hex profiles' HMAC), the
 *     re-encrypt job moves every box to K2 (and leaves rows under a key it does not hold
 *     alone instead of failing), then with [K2] alone delivery signs and GET secret works;
 *   - without SECRETS_KEY, the routes that need it answer 503 problem+json and /health
 *     says `secrets_key: missing`.
 *
 *   npx vitest run --project integration test/integration/hardening-secrets
 */
import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/api/app";
import { handleLogDeliveryBatch } from "../../src/consumers/deliveries";
import { createEndpoint, getSecrets, rotateSecret } from "../../src/core/endpoints";
import { reencryptSecrets } from "../../src/cron/reencrypt";
import { sha256Hex } from "../../src/domain/constant-time";
import { boxPrefix } from "../../src/domain/secret-box";
import {
  call,
  configuredDeps,
  deliverWith,
  dumpDb,
  dumpDurableObject,
  ingestQuietly,
  loggedRequests,
  problemDefect,
  quiesce,
  receiverRequests,
  receiverUrl,
  tenantLogOf,
  type StorageDump,
} from "./hardening-helpers";
import { createEventType, uid } from "./helpers";

const TEST_SECRETS_KEY = "c3dpdGNoeWFyZC1kZXYta2V5LW5vdC1mb3ItcHJvZCE=";

const utf8 = (s: string) => new TextEncoder().encode(s);
const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const b64url = (bytes: Uint8Array) => b64(bytes).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
const hexOf = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
const randomKey = () => b64(crypto.getRandomValues(new Uint8Array(32)));
const randomText = (n = 24) => b64url(crypto.getRandomValues(new Uint8Array(n)));

/** A secret and every encoding of it a careless store might hold. */
function forms(secret: string): string[] {
  const out = new Set<string>([secret]);
  const bytes = utf8(secret);
  out.add(b64(bytes).replace(/=+$/, ""));
  out.add(b64url(bytes));
  out.add(hexOf(bytes));
  if (secret.startsWith("whsec_")) {
    // The key inside: its base64 (without padding), base64url and hex.
    const keyB64 = secret.slice("whsec_".length);
    const key = Uint8Array.from(atob(keyB64), (c) => c.charCodeAt(0));
    out.add(keyB64.replace(/=+$/, ""));
    out.add(b64url(key));
    out.add(hexOf(key));
  }
  // Shorter than 12 characters could match by chance; every secret here is longer.
  return [...out].filter((f) => f.length >= 12);
}

/** The storage of every Durable Object the tenant's traffic touched: its own TenantLog and `_operator`'s. */
async function dumpTenantLogs(tenantId: string): Promise<{ own: StorageDump; text: string }> {
  const own = await dumpDurableObject(await tenantLogOf(tenantId));
  const operator = await dumpDurableObject(await tenantLogOf("_operator"));
  return { own, text: JSON.stringify([own, operator]) };
}

/** Verifies a recorded request with the public `standardwebhooks` package; throws when invalid. */
function verifyStandard(secret: string, req: { body: string; headers: Record<string, string> }): unknown {
  return new Webhook(secret).verify(req.body, req.headers);
}

async function hmacHex(secret: string, text: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", utf8(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return hexOf(new Uint8Array(await crypto.subtle.sign("HMAC", key, utf8(text))));
}

describe("secrets at rest", () => {
  let type: string;

  beforeAll(async () => {
    type = await createEventType();
  });

  it("a dump of every D1 table and every DO's storage holds no secret, token, password or API key (in clear, base64 or hex)", async () => {
    const tenant = uid("sec");
    expect((await call("POST", "/v1/tenants", { body: { id: tenant, name: "secrets" } })).status).toBe(201);
    const secrets: Record<string, string> = {};
    const endpointIds: string[] = [];
    const prefix = `/ok/hard-secrets-${tenant}`;
    const make = async (label: string, body: Record<string, unknown>) => {
      const res = await call("POST", `/v1/tenants/${tenant}/endpoints`, { body: { url: `${receiverUrl()}${prefix}/${label}`, ...body } });
      expect(res.status, res.text).toBe(201);
      secrets[`${label} secret`] = res.json.secret;
      endpointIds.push(res.json.id);
      return res.json.id as string;
    };
    const bearer = `bearer-${randomText()}`;
    const basicUser = `user-${randomText(6)}`;
    const basicPass = `pass-${randomText()}`;
    const hexSecret = `migrated-hex-secret-${randomText()}`;
    const suppliedStd = `whsec_${b64(crypto.getRandomValues(new Uint8Array(32)))}`;
    secrets["bearer token"] = bearer;
    secrets["basic password"] = basicPass;
    secrets["basic header value"] = btoa(`${basicUser}:${basicPass}`);
    await make("generated-std-bearer", { auth: { type: "bearer", token: bearer } });
    const basicEp = await make("supplied-std-basic", { secret: suppliedStd, auth: { type: "basic", username: basicUser, password: basicPass } });
    await make("hex-bearer", { signature: "hmac-sha256-hex", secret: hexSecret, auth: { type: "bearer", token: bearer } });
    await make("timestamped-generated", { signature: "timestamped-hex" });
    await make("fifo", { ordering: "fifo", auth: { type: "bearer", token: bearer } });
    await make("rate-limited", { rate_limit: 50, auth: { type: "basic", username: basicUser, password: basicPass } });
    // A rotation keeps the old secret for its grace period: both are at rest now.
    const rotatedTo = `whsec_${b64(crypto.getRandomValues(new Uint8Array(40)))}`;
    const rotated = await call("POST", `/v1/tenants/${tenant}/endpoints/${basicEp}/secret/rotate`, { body: { secret: rotatedTo, grace_seconds: 3600 } });
    expect(rotated.status, rotated.text).toBe(200);
    expect(rotated.json.previous.map((p: { secret: string }) => p.secret)).toEqual([suppliedStd]);
    secrets["rotated-to secret"] = rotatedTo;
    // Auth replaced by PATCH: the new token is sealed as well.
    const patchedToken = `patched-${randomText()}`;
    secrets["patched bearer token"] = patchedToken;
    expect((await call("PATCH", `/v1/tenants/${tenant}/endpoints/${endpointIds[3]}`, { body: { auth: { type: "bearer", token: patchedToken } } })).status).toBe(200);

    const keys: string[] = [];
    for (const name of ["ci", "ops"]) {
      const k = await call("POST", `/v1/tenants/${tenant}/api-keys`, { body: { name } });
      expect(k.status).toBe(201);
      secrets[`api key ${name}`] = k.json.key;
      keys.push(k.json.key);
    }
    const portal = await call("POST", `/v1/tenants/${tenant}/portal-sessions`, { body: {} });
    expect(portal.status, portal.text).toBe(201);
    const linkToken = new URL(portal.json.url).searchParams.get("token");
    expect(linkToken).toBeTruthy();
    secrets["portal link token"] = linkToken!;
    secrets["admin token"] = "test-admin-token";
    secrets.SECRETS_KEY = TEST_SECRETS_KEY;

    // Deliveries and test sends, so attempts record the headers they sent.
    for (let i = 0; i < 3; i++) expect((await call("POST", `/v1/tenants/${tenant}/events`, { body: { type, data: { i } } })).status).toBe(202);
    for (const id of endpointIds) expect((await call("POST", `/v1/tenants/${tenant}/endpoints/${id}/test`, { body: { type, data: {} } })).json.response_status).toBe(200);
    await quiesce(200);
    const arrived = await receiverRequests(prefix);
    expect(arrived.length, "every endpoint received its 3 events and a test").toBe(endpointIds.length * 4);
    // The receivers did get the auth values, so they are real and would show up if stored.
    expect(arrived.some((r) => r.headers.authorization === `Bearer ${bearer}`)).toBe(true);
    expect(arrived.some((r) => r.headers.authorization === `Basic ${btoa(`${basicUser}:${basicPass}`)}`)).toBe(true);

    const d1 = await dumpDb();
    const { own: log, text: dos } = await dumpTenantLogs(tenant);
    // The log did keep state: the FIFO and rate-limited endpoints' snapshots, and every
    // attempt with the request headers it sent (so a stored secret would be in this dump).
    expect(log.tables.endpoints!.map((e) => [e.ordering, e.rate_limit])).toEqual(expect.arrayContaining([["fifo", null], ["none", 50]]));
    const logged = loggedRequests(log);
    expect(logged.length).toBeGreaterThanOrEqual(endpointIds.length * 4);
    const found: string[] = [];
    for (const [name, secret] of Object.entries(secrets)) {
      for (const form of forms(secret)) {
        if (d1.includes(form)) found.push(`D1 holds ${name} (${form === secret ? "in clear" : `as ${form.slice(0, 16)}…`})`);
        if (dos.includes(form)) found.push(`DO storage holds ${name}`);
      }
    }
    expect(found).toEqual([]);

    // API keys: only SHA-256 hashes, one per key.
    const rows = (await env.DB.prepare("SELECT * FROM api_keys WHERE tenant_id = ? ORDER BY id").bind(tenant).all<Record<string, unknown>>()).results;
    expect(rows.map((r) => r.key_hash).sort()).toEqual((await Promise.all(keys.map(sha256Hex))).sort());
    for (const r of rows) expect(Object.keys(r).sort()).toEqual(["created_at", "id", "key_hash", "name", "tenant_id"]);
    // The logged request headers of the attempts (in the tenant's log) are redacted where they carried a secret.
    let redactedAuth = 0;
    for (const { headers } of logged) {
      if (headers.authorization !== undefined) {
        expect(headers.authorization).toBe("[redacted]");
        redactedAuth += 1;
      }
      for (const k of ["webhook-signature", "x-switchyard-signature"]) if (headers[k] !== undefined) expect(headers[k]).toBe("[redacted]");
    }
    // Six endpoints send auth (bearer or basic), each three events and a test: all logged, redacted.
    expect(redactedAuth).toBe(6 * 4);
  });

  it("SECRETS_KEY rotation: [K2, K1] signs every delivery, the re-encrypt job moves every box to K2, then K2 alone signs and reads", async () => {
    const K1 = randomKey();
    const K2 = randomKey();
    const tenant = uid("rot");
    expect((await call("POST", "/v1/tenants", { body: { id: tenant, name: "rotation" } })).status).toBe(201);
    const prefix = `/ok/hard-rotation-${tenant}`;
    const withKeys = (keys: string[]) => configuredDeps({ allowPrivateUrls: true, secretsKeys: keys }).deps;

    // Set up under K1 alone.
    const specs = [
      { label: "std", signature: "standard" as const, auth: { type: "bearer" as const, token: `rot-${randomText()}` } },
      { label: "std-supplied", signature: "standard" as const, secret: `whsec_${b64(crypto.getRandomValues(new Uint8Array(32)))}`, auth: { type: "basic" as const, username: "u", password: `p-${randomText()}` } },
      { label: "hex", signature: "hmac-sha256-hex" as const, secret: `hex-secret-${randomText()}` },
      { label: "ts", signature: "timestamped-hex" as const },
    ];
    const eps: { id: string; label: string; signature: string; secret: string; auth?: { type: string } }[] = [];
    for (const s of specs) {
      const { row, secret } = await createEndpoint(withKeys([K1]), tenant, { url: `${receiverUrl()}${prefix}/${s.label}`, signature: s.signature, secret: s.secret, auth: s.auth, filter: { types: [type] } });
      eps.push({ id: row.id, label: s.label, signature: s.signature, secret, auth: s.auth });
    }
    // One endpoint mid secret rotation (under K1): standard sends both signatures.
    const second = `whsec_${b64(crypto.getRandomValues(new Uint8Array(32)))}`;
    await rotateSecret(withKeys([K1]), tenant, eps[0]!.id, { secret: second, grace_seconds: 3600 });
    const oldFirst = eps[0]!.secret;
    eps[0]!.secret = second;

    const k1Prefix = await boxPrefix(K1);
    const k2Prefix = await boxPrefix(K2);
    const boxes = async () => {
      const ids = eps.map((e) => e.id);
      const marks = ids.map(() => "?").join(",");
      const s = (await env.DB.prepare(`SELECT secret_box AS box FROM endpoint_secrets WHERE endpoint_id IN (${marks})`).bind(...ids).all<{ box: string }>()).results;
      const a = (await env.DB.prepare(`SELECT auth_box AS box FROM endpoints WHERE id IN (${marks}) AND auth_box IS NOT NULL`).bind(...ids).all<{ box: string }>()).results;
      return [...s, ...a].map((r) => r.box);
    };
    expect((await boxes()).length).toBe(eps.length + 1 + 2);
    expect((await boxes()).every((b) => b.startsWith(k1Prefix))).toBe(true);

    /** Delivers one event to every endpoint with these keys; checks each signature at the receiver. */
    let round = 0;
    const deliverAndVerify = async (keys: string[], consumer?: Parameters<typeof deliverWith>[2]) => {
      round += 1;
      const ev = await ingestQuietly(tenant, type, { round });
      expect(ev.deliveries.map((d) => d.endpointId).sort()).toEqual(eps.map((e) => e.id).sort());
      const deps = withKeys(keys);
      for (const d of ev.deliveries) expect(await deliverWith(deps, d, consumer), `round ${round}: the consumer acked`).toEqual({ acked: true, retried: false });
      const statuses = [];
      for (const d of ev.deliveries) {
        const detail = await call("GET", `/v1/tenants/${tenant}/deliveries/${d.deliveryId}`);
        expect(detail.status, detail.text).toBe(200);
        statuses.push({ status: detail.json.status, attempts: detail.json.attempts.length });
      }
      expect(statuses, `round ${round} with ${keys.length} key(s)`).toEqual(ev.deliveries.map(() => ({ status: "delivered", attempts: 1 })));
      for (const e of eps) {
        const got = (await receiverRequests(`${prefix}/${e.label}`)).filter((r) => r.path === `${prefix}/${e.label}` && r.headers["webhook-id"] === ev.id);
        expect(got.length, `${e.label} round ${round}`).toBe(1);
        const req = got[0]!;
        if (e.signature === "standard") {
          expect(() => verifyStandard(e.secret, req), `${e.label} signature (current secret)`).not.toThrow();
          if (e.label === "std") expect(() => verifyStandard(oldFirst, req), "the previous secret still verifies in its grace period").not.toThrow();
        } else if (e.signature === "hmac-sha256-hex") {
          expect(req.headers["x-switchyard-signature"]).toBe(await hmacHex(e.secret, req.body));
        } else {
          const ts = req.headers["x-switchyard-timestamp"];
          expect(req.headers["x-switchyard-signature"]).toBe(`sha256=${await hmacHex(e.secret, `${ts}.${req.body}`)}`);
        }
        if (e.auth?.type === "bearer") expect(req.headers.authorization).toMatch(/^Bearer rot-/);
        if (e.auth?.type === "basic") expect(req.headers.authorization).toMatch(/^Basic /);
      }
    };

    await deliverAndVerify([K1]);
    // The rotation starts: K2 is current, K1 previous. Nothing is re-encrypted yet.
    await deliverAndVerify([K2, K1]);
    // New secrets are sealed under K2 from now on.
    const third = `whsec_${b64(crypto.getRandomValues(new Uint8Array(32)))}`;
    await rotateSecret(withKeys([K2, K1]), tenant, eps[1]!.id, { secret: third, grace_seconds: 0 });
    eps[1]!.secret = third;
    expect((await boxes()).filter((b) => b.startsWith(k2Prefix)).length).toBe(1);

    // The job, in bounded batches, until it has nothing left. Rows of other tenants in this
    // file are sealed with the test's own SECRETS_KEY, which this config does not hold: the
    // job must leave them alone, not fail on them.
    const config = withKeys([K2, K1]).config;
    let moved = 0;
    for (let i = 0; i < 20; i++) {
      const n = await reencryptSecrets(env.DB, config, 2);
      moved += n;
      if (n === 0) break;
    }
    expect(moved).toBeGreaterThanOrEqual(eps.length + 2);
    const after = await boxes();
    expect(after.filter((b) => !b.startsWith(k2Prefix)), "boxes still under K1").toEqual([]);
    await deliverAndVerify([K2, K1]);
    // K1 retired. Changing a Worker secret deploys a new version, whose isolates start with
    // empty caches: the consumer's per-isolate send settings (sealed boxes, keyed by endpoint
    // version, which re-encryption does not change) are read from D1 afresh. A fresh module
    // instance of the consumer stands for that isolate.
    const fresh = "../../src/consumers/deliveries.ts?isolate=after-rotation";
    const { handleLogDeliveryBatch: freshConsumer } = (await import(/* @vite-ignore */ fresh)) as typeof import("../../src/consumers/deliveries");
    expect(freshConsumer).not.toBe(handleLogDeliveryBatch);
    await deliverAndVerify([K2], freshConsumer);
    const read = await getSecrets(withKeys([K2]), tenant, eps[0]!.id);
    expect(read.map((s) => s.secret)).toEqual([second, oldFirst]);

    // Through the HTTP API as deployed with SECRETS_KEY=K2 and no previous key.
    const res = await createApp().fetch(
      new Request(`http://x/v1/tenants/${tenant}/endpoints/${eps[2]!.id}/secret`, { headers: { authorization: "Bearer test-admin-token" } }),
      { ...env, SECRETS_KEY: K2 } as Env,
    );
    expect(res.status).toBe(200);
    expect(((await res.json()) as { secret: string }).secret).toBe(eps[2]!.secret);
    // And the rows under the test's own key were not touched by a job that could not open them.
    const untouched = await env.DB.prepare(`SELECT COUNT(*) AS n FROM endpoint_secrets WHERE secret_box LIKE ?`).bind(`${await boxPrefix(TEST_SECRETS_KEY)}%`).first<{ n: number }>();
    expect(untouched!.n).toBeGreaterThan(0);
  });

  it("without SECRETS_KEY the routes that need it answer 503 problem+json, and /health says secrets_key missing", async () => {
    const tenant = uid("nokey");
    expect((await call("POST", "/v1/tenants", { body: { id: tenant, name: "no key" } })).status).toBe(201);
    const ep = await call("POST", `/v1/tenants/${tenant}/endpoints`, { body: { url: `${receiverUrl()}/ok/hard-nokey-${tenant}` } });
    expect(ep.status).toBe(201);
    const app = createApp();
    const noKey = () => ({ ...env, SECRETS_KEY: "" }) as Env; // a fresh object: getConfig caches per env
    const send = async (method: string, path: string, body?: unknown) => {
      const res = await app.fetch(
        new Request(`http://x${path}`, { method, headers: { authorization: "Bearer test-admin-token", "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) }),
        noKey(),
      );
      const text = await res.text();
      return { status: res.status, headers: res.headers, text, json: text ? JSON.parse(text) : undefined };
    };
    const base = `/v1/tenants/${tenant}/endpoints`;
    const needKey: [string, string, unknown?][] = [
      ["GET", `${base}/${ep.json.id}/secret`],
      ["POST", `${base}/${ep.json.id}/secret/rotate`, {}],
      ["POST", base, { url: "https://example.com/hook" }],
      ["PATCH", `${base}/${ep.json.id}`, { auth: { type: "bearer", token: "needs-sealing-1234" } }],
      ["POST", `${base}/${ep.json.id}/test`, { type, data: {} }],
    ];
    for (const [method, path, body] of needKey) {
      const res = await send(method, path, body);
      expect(res.status, `${method} ${path}: ${res.text}`).toBe(503);
      expect(problemDefect(res), `${method} ${path}`).toBeNull();
      expect(res.headers.get("retry-after")).toBeTruthy();
      expect(res.text).not.toContain(TEST_SECRETS_KEY);
    }
    // The refused test send recorded nothing: no test delivery in the endpoint's log.
    const logged = await call("GET", `${base}/${ep.json.id}/deliveries`);
    expect(logged.status, logged.text).toBe(200);
    expect(logged.json.data).toEqual([]);
    // Routes that need no key still work.
    expect((await send("GET", `${base}/${ep.json.id}`)).status).toBe(200);
    const health = await app.fetch(new Request("http://x/health"), noKey());
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ status: "degraded", checks: { d1: "ok", secrets_key: "missing" } });
    // An invalid key is reported as such, and the real configuration is healthy.
    const bad = await app.fetch(new Request("http://x/health"), { ...env, SECRETS_KEY: "not-base64-of-32-bytes" } as Env);
    expect(await bad.json()).toMatchObject({ checks: { secrets_key: "invalid" } });
    expect((await call("GET", "/health", { token: null })).json).toMatchObject({ status: "ok", checks: { secrets_key: "ok" } });
  });
});
