/**
 * Every change to how an endpoint is sent to bumps its `version` (the delivery consumer of
 * data plane v2 caches send settings per endpoint and version: docs/data-plane-v2.md).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, createEndpoint, createTenant } from "./helpers";

const versionOf = async (id: string) => (await env.DB.prepare(`SELECT version FROM endpoints WHERE id = ?`).bind(id).first<{ version: number }>())!.version;

describe("endpoint version", () => {
  it("starts at 1 and is bumped by a PATCH and by a secret rotation, never by a read", async () => {
    const t = await createTenant();
    const ep = await createEndpoint(t);
    expect(await versionOf(ep.id)).toBe(1);
    expect((await api(`/v1/tenants/${t}/endpoints/${ep.id}`)).status).toBe(200);
    expect((await api(`/v1/tenants/${t}/endpoints/${ep.id}/secret`)).status).toBe(200);
    expect(await versionOf(ep.id)).toBe(1);
    expect((await api(`/v1/tenants/${t}/endpoints/${ep.id}`, { method: "PATCH", body: { url: "https://example.com/other" } })).status).toBe(200);
    expect(await versionOf(ep.id)).toBe(2);
    expect((await api(`/v1/tenants/${t}/endpoints/${ep.id}/secret/rotate`, { body: {} })).status).toBe(200);
    expect(await versionOf(ep.id)).toBe(3);
    // The resource itself does not show it (the contract has no such field).
    expect((await api(`/v1/tenants/${t}/endpoints/${ep.id}`)).body).not.toHaveProperty("version");
  });
});
