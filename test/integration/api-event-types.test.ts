import { describe, expect, it } from "vitest";
import { api, createEventType, createTenant, expectInvalid, expectProblem, listAll, uid, uniqueTypeName } from "./helpers";

const schema = { type: "object", properties: { n: { type: "integer" } }, required: ["n"], additionalProperties: false };

describe("POST /v1/event-types", () => {
  it("creates an event type with every field and answers 201", async () => {
    const name = uniqueTypeName("report");
    const res = await api("/v1/event-types", { body: { name, description: "A report", group: "inspections", schema, example: { n: 3 } } });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      name,
      description: "A report",
      group: "inspections",
      schema,
      example: { n: 3 },
      archived: false,
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });
    expect((await api(`/v1/event-types/${name}`)).body).toEqual(res.body);
  });

  it("fills defaults: empty description, null group, schema and example", async () => {
    const name = uniqueTypeName();
    const res = await api("/v1/event-types", { body: { name } });
    expect(res.body).toMatchObject({ name, description: "", group: null, schema: null, example: null, archived: false });
  });

  it("accepts names of three or more segments with digits and underscores", async () => {
    expect((await api("/v1/event-types", { body: { name: `maintenance.task_2.${uid("c").toLowerCase()}` } })).status).toBe(201);
  });

  it("answers 409 for a name that exists", async () => {
    const name = await createEventType();
    expectProblem(await api("/v1/event-types", { body: { name } }), 409);
  });

  it.each([
    ["a single segment", "report"],
    ["upper case", "Report.Completed"],
    ["an empty segment", "report..completed"],
    ["a dash", "report.com-pleted"],
    ["a trailing dot", "report.completed."],
    ["a wildcard", "report.*"],
    ["more than 128 characters", `a.${"b".repeat(127)}`],
    ["the reserved switchyard prefix", "switchyard.custom"],
  ])("refuses a name with %s (422)", async (_what, name) => {
    expectInvalid(await api("/v1/event-types", { body: { name } }), "name");
  });

  it.each([
    ["a schema whose type is not a JSON type", { schema: { type: "nonsense" } }, "schema*"],
    ["a schema with a non-array required", { schema: { type: "object", required: "n" } }, "schema*"],
    ["a schema that is not an object", { schema: "object" }, "schema"],
    ["an example that does not satisfy the schema", { schema, example: { n: "three" } }, "example*"],
    ["an example missing a required field", { schema, example: {} }, "example*"],
    ["a group with upper case", { group: "Inspections" }, "group"],
    ["a description of the wrong type", { description: 5 }, "description"],
    ["an unknown field", { colour: "red" }, "*"],
  ])("refuses %s (422)", async (_what, extra, path) => {
    expectInvalid(await api("/v1/event-types", { body: { name: uniqueTypeName(), ...extra } }), path);
  });

  it("answers 400 for malformed JSON", async () => {
    expectProblem(await api("/v1/event-types", { body: '{"name":' }), 400);
  });
});

describe("GET /v1/event-types/{name}", () => {
  it("shows the built-in switchyard.* types", async () => {
    for (const name of ["switchyard.delivery.failed", "switchyard.endpoint.disabled"]) {
      const res = await api(`/v1/event-types/${name}`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ name, group: "switchyard", archived: false });
      expect(res.body.example).not.toBeNull();
    }
  });

  it("answers 404 for an unknown name", async () => {
    expectProblem(await api("/v1/event-types/no.such_type"), 404);
  });
});

describe("GET /v1/event-types", () => {
  it("lists by name, filters by group, and pages by name", async () => {
    const group = `g${uid().toLowerCase().replaceAll("-", "")}`.slice(0, 30);
    const names = ["zeta", "alpha", "mid", "beta"].map((p) => `${p}.${group}`);
    for (const n of names) await createEventType(n, { group });
    await createEventType(uniqueTypeName("other"), { group: "unrelated" });
    const all = await listAll(`/v1/event-types?group=${group}`, 250);
    expect(all.map((t) => t.name)).toEqual([...names].sort());
    const first = await api(`/v1/event-types?group=${group}&limit=3`);
    expect(first.body.data.map((t: { name: string }) => t.name)).toEqual([...names].sort().slice(0, 3));
    const second = await api(`/v1/event-types?group=${group}&limit=3&cursor=${first.body.next_cursor}`);
    expect(second.body.data.map((t: { name: string }) => t.name)).toEqual([...names].sort().slice(3));
    expect(second.body.next_cursor).toBeNull();
  });

  it("includes the built-in types, in name order with the rest", async () => {
    const names = (await listAll("/v1/event-types", 2)).map((t) => t.name as string);
    expect(names).toContain("switchyard.delivery.failed");
    expect(names).toContain("switchyard.endpoint.disabled");
    expect(names).toEqual([...names].sort());
    expect(new Set(names).size).toBe(names.length);
  });

  it("hides archived types unless include_archived=true", async () => {
    const name = await createEventType();
    expect((await api(`/v1/event-types/${name}`, { method: "DELETE" })).status).toBe(204);
    expect((await listAll("/v1/event-types", 250)).map((t) => t.name)).not.toContain(name);
    const withArchived = await listAll("/v1/event-types?include_archived=true", 250);
    expect(withArchived.find((t) => t.name === name)).toMatchObject({ archived: true });
  });

  it.each([
    ["limit=0", "limit"],
    ["limit=251", "limit"],
    ["include_archived=yes", "include_archived"],
    ["cursor=%%%", "cursor"],
  ])("refuses %s (422)", async (query, path) => {
    expectInvalid(await api(`/v1/event-types?${query}`), path);
  });
});

describe("PATCH /v1/event-types/{name}", () => {
  it("replaces the named fields", async () => {
    const name = await createEventType(uniqueTypeName(), { description: "old", group: "one", schema, example: { n: 1 } });
    const res = await api(`/v1/event-types/${name}`, { method: "PATCH", body: { description: "new", example: { n: 2 } } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name, description: "new", group: "one", schema, example: { n: 2 } });
  });

  it("clears group and schema with null", async () => {
    const name = await createEventType(uniqueTypeName(), { group: "one", schema });
    const res = await api(`/v1/event-types/${name}`, { method: "PATCH", body: { group: null, schema: null } });
    expect(res.body).toMatchObject({ group: null, schema: null });
  });

  it("refuses an example that the current schema rejects (422)", async () => {
    const name = await createEventType(uniqueTypeName(), { schema });
    expectInvalid(await api(`/v1/event-types/${name}`, { method: "PATCH", body: { example: { n: "x" } } }), "example*");
  });

  it("refuses a new schema that the current example does not satisfy (422)", async () => {
    const name = await createEventType(uniqueTypeName(), { example: { n: "text" } });
    expectInvalid(await api(`/v1/event-types/${name}`, { method: "PATCH", body: { schema } }), "example*");
  });

  it("refuses renaming and unknown fields (422)", async () => {
    const name = await createEventType();
    expectInvalid(await api(`/v1/event-types/${name}`, { method: "PATCH", body: { name: "other.name" } }), "*");
  });

  it("refuses changing a built-in type (409) and answers 404 for an unknown one", async () => {
    expectProblem(await api("/v1/event-types/switchyard.delivery.failed", { method: "PATCH", body: { description: "x" } }), 409);
    expectProblem(await api("/v1/event-types/no.such_type", { method: "PATCH", body: { description: "x" } }), 404);
  });
});

describe("DELETE /v1/event-types/{name}", () => {
  it("archives: 204, the type stays readable as archived, and new events of it are refused", async () => {
    const name = await createEventType();
    const tenant = await createTenant();
    expect((await api(`/v1/event-types/${name}`, { method: "DELETE" })).status).toBe(204);
    expect((await api(`/v1/event-types/${name}`)).body.archived).toBe(true);
    expectInvalid(await api(`/v1/tenants/${tenant}/events`, { body: { type: name, data: {} } }), "type");
  });

  it("archiving twice is harmless", async () => {
    const name = await createEventType();
    expect((await api(`/v1/event-types/${name}`, { method: "DELETE" })).status).toBe(204);
    expect((await api(`/v1/event-types/${name}`, { method: "DELETE" })).status).toBe(204);
  });

  it("refuses archiving a built-in type (409) and answers 404 for an unknown one", async () => {
    expectProblem(await api("/v1/event-types/switchyard.endpoint.disabled", { method: "DELETE" }), 409);
    expectProblem(await api("/v1/event-types/no.such_type", { method: "DELETE" }), 404);
  });
});
