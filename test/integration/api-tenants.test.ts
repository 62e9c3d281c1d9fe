import { describe, expect, it } from "vitest";
import { api, createTenant, expectInvalid, expectProblem, pageThrough, uid } from "./helpers";

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe("POST /v1/tenants", () => {
  it("creates a tenant with a host-supplied id and answers 201 with the tenant", async () => {
    const id = uid("acme-");
    const res = await api("/v1/tenants", { body: { id, name: "Acme", metadata: { plan: "gold" } } });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ id, name: "Acme", metadata: { plan: "gold" }, created_at: expect.stringMatching(ISO), updated_at: expect.stringMatching(ISO) });
    expect((await api(`/v1/tenants/${id}`)).body).toEqual(res.body);
  });

  it("generates a ten_ id and empty metadata when none are given", async () => {
    const res = await api("/v1/tenants", { body: { name: "Generated" } });
    expect(res.status).toBe(201);
    expect(res.body.id).toMatch(/^ten_[0-9a-z]{26}$/);
    expect(res.body.metadata).toEqual({});
  });

  it("answers 409 for an id that already exists", async () => {
    const id = await createTenant();
    expectProblem(await api("/v1/tenants", { body: { id, name: "Again" } }), 409);
  });

  it.each([
    ["a dot", "has.dot"],
    ["a leading underscore (reserved)", "_mine"],
    ["a leading dash", "-abc"],
    ["a space", "a b"],
    ["65 characters", "a".repeat(65)],
    ["an empty string", ""],
    ["a slash", "a/b"],
  ])("refuses a tenant id with %s (422)", async (_what, id) => {
    expectInvalid(await api("/v1/tenants", { body: { id, name: "X" } }), "id");
  });

  it("accepts a 64-character id with dashes and underscores", async () => {
    const id = `A${"b-_".repeat(21)}`;
    expect(id).toHaveLength(64);
    expect((await api("/v1/tenants", { body: { id, name: "Long" } })).status).toBe(201);
  });

  it.each([
    ["a missing name", {}, "name"],
    ["a name that is not a string", { name: 5 }, "name"],
    ["an empty name", { name: "" }, "name"],
    ["metadata that is not an object", { name: "x", metadata: [1] }, "metadata"],
    ["an unknown field", { name: "x", colour: "red" }, "*"],
  ])("refuses %s with 422 and lists the error", async (_what, body, path) => {
    expectInvalid(await api("/v1/tenants", { body }), path);
  });

  it("answers 400 problem+json for malformed JSON", async () => {
    expectProblem(await api("/v1/tenants", { body: '{"name": "x",' }), 400);
  });

  it.each([
    ["an empty body", ""],
    ["a bare string", "nope"],
  ])("answers 400 problem+json for %s", async (_what, body) => {
    expectProblem(await api("/v1/tenants", { body }), 400);
  });

  it.each([
    ["null", "null"],
    ["an array", "[]"],
  ])("refuses a JSON body that is %s (422)", async (_what, body) => {
    expectInvalid(await api("/v1/tenants", { body }), "(body)");
  });

  it("refuses a JSON body sent without a JSON content type, with problem+json", async () => {
    const res = await api("/v1/tenants", { body: '{"name": "x"}', headers: { "content-type": "text/plain" } });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expectProblem(res, res.status);
  });
});

describe("the _operator tenant", () => {
  it("always exists", async () => {
    const res = await api("/v1/tenants/_operator");
    expect(res.status).toBe(200);
    expect(res.body.id).toBe("_operator");
  });

  it("cannot be deleted (409)", async () => {
    expectProblem(await api("/v1/tenants/_operator", { method: "DELETE" }), 409);
    expect((await api("/v1/tenants/_operator")).status).toBe(200);
  });
});

describe("GET /v1/tenants/{tid}", () => {
  it("answers 404 problem+json for an unknown tenant", async () => {
    expectProblem(await api("/v1/tenants/nobody-here"), 404);
  });
});

describe("PATCH /v1/tenants/{tid}", () => {
  it("replaces the named fields and keeps the rest", async () => {
    const id = await createTenant({ name: "Before", metadata: { a: 1 } });
    const res = await api(`/v1/tenants/${id}`, { method: "PATCH", body: { name: "After" } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id, name: "After", metadata: { a: 1 } });
    const replaced = await api(`/v1/tenants/${id}`, { method: "PATCH", body: { metadata: { b: 2 } } });
    expect(replaced.body.metadata).toEqual({ b: 2 });
  });

  it("clears metadata with null", async () => {
    const id = await createTenant({ metadata: { a: 1 } });
    const res = await api(`/v1/tenants/${id}`, { method: "PATCH", body: { metadata: null } });
    expect(res.status).toBe(200);
    expect(res.body.metadata).toEqual({});
  });

  it.each([
    ["an unknown field", { id: "other" }, "*"],
    ["a name of the wrong type", { name: ["x"] }, "name"],
  ])("refuses %s (422)", async (_what, body, path) => {
    const id = await createTenant();
    expectInvalid(await api(`/v1/tenants/${id}`, { method: "PATCH", body }), path);
  });

  it("answers 404 for an unknown tenant", async () => {
    expectProblem(await api("/v1/tenants/nobody-here", { method: "PATCH", body: { name: "x" } }), 404);
  });

  it("answers 400 for malformed JSON", async () => {
    const id = await createTenant();
    expectProblem(await api(`/v1/tenants/${id}`, { method: "PATCH", body: "{not json" }), 400);
  });
});

describe("DELETE /v1/tenants/{tid}", () => {
  it("answers 202, the tenant answers 404 at once, and its id cannot be reused until the purge ends (409)", async () => {
    const id = await createTenant();
    const res = await api(`/v1/tenants/${id}`, { method: "DELETE" });
    expect(res.status).toBe(202);
    expectProblem(await api(`/v1/tenants/${id}`), 404);
    expectProblem(await api(`/v1/tenants/${id}/endpoints`), 404);
    expectProblem(await api("/v1/tenants", { body: { id, name: "Reuse" } }), 409);
    const all = await api("/v1/tenants?limit=250");
    expect(all.body.data.map((t: { id: string }) => t.id)).not.toContain(id);
  });

  it("answers 404 for an unknown or already deleted tenant", async () => {
    expectProblem(await api("/v1/tenants/nobody-here", { method: "DELETE" }), 404);
    const id = await createTenant();
    await api(`/v1/tenants/${id}`, { method: "DELETE" });
    expectProblem(await api(`/v1/tenants/${id}`, { method: "DELETE" }), 404);
  });
});

describe("GET /v1/tenants", () => {
  it("lists newest first with {data, next_cursor}", async () => {
    const a = await createTenant();
    const b = await createTenant();
    const res = await api("/v1/tenants?limit=2");
    expect(res.status).toBe(200);
    expect(res.body.data.map((t: { id: string }) => t.id)).toEqual([b, a]);
    expect(typeof res.body.next_cursor).toBe("string");
  });

  it("pages without repeats or gaps while new tenants are created between pages", async () => {
    for (let i = 0; i < 7; i++) await createTenant();
    const before = (await api("/v1/tenants?limit=250")).body.data.map((t: { id: string }) => t.id) as string[];
    const added: string[] = [];
    const { ids, pages } = await pageThrough("/v1/tenants", 3, async () => {
      added.push(await createTenant());
    });
    expect(pages).toBeGreaterThan(2);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(before);
    for (const id of added) expect(ids).not.toContain(id);
  });

  it("ends with next_cursor null on the last page", async () => {
    const res = await api("/v1/tenants?limit=250");
    expect(res.body.next_cursor).toBeNull();
  });

  it.each(["0", "251", "-1", "1.5", "abc"])("refuses limit=%s (422)", async (limit) => {
    expectInvalid(await api(`/v1/tenants?limit=${limit}`), "limit");
  });

  it.each(["1", "250"])("accepts limit=%s", async (limit) => {
    const res = await api(`/v1/tenants?limit=${limit}`);
    expect(res.status).toBe(200);
    expect(res.body.data.length).toBeLessThanOrEqual(Number(limit));
  });

  it("refuses a cursor it did not issue (422)", async () => {
    expectInvalid(await api("/v1/tenants?cursor=not-a-cursor"), "cursor");
  });
});
