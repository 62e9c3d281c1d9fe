import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type EndpointFilter, isFilterPattern, matchesFilter, matchesPattern } from "../../src/domain/filter";

const filter = (f: Partial<EndpointFilter>): EndpointFilter => ({ types: [], exclude: [], groups: [], ...f });

describe("isFilterPattern", () => {
  it.each(["*", "report.completed", "vehicle.*", "maintenance.task.*", "a.b.c.d"])("accepts %s", (p) => {
    expect(isFilterPattern(p)).toBe(true);
  });

  it.each(["", "vehicle", "*.created", "vehicle*", "vehicle.**", "vehicle.*.created", "**", ".*", "Vehicle.*", "a..*", `a.${"b".repeat(125)}.*`])(
    "refuses %j",
    (p) => {
      expect(isFilterPattern(p)).toBe(false);
    },
  );
});

describe("matchesPattern", () => {
  it.each([
    ["*", "anything.at_all", true],
    ["report.completed", "report.completed", true],
    ["report.completed", "report.completed_late", false],
    ["vehicle.*", "vehicle.created", true],
    ["vehicle.*", "vehicle.tire.changed", true],
    ["vehicle.*", "vehicles.created", false],
    ["vehicle.*", "fleet.vehicle.created", false],
    ["vehicle.tire.*", "vehicle.tire.changed", true],
    ["vehicle.tire.*", "vehicle.tires.changed", false],
    ["vehicle.tire.*", "vehicle.tire", false],
  ])("%s against %s is %s", (pattern, type, expected) => {
    expect(matchesPattern(pattern, type)).toBe(expected);
  });

  it("a prefix wildcard never matches the bare prefix", () => {
    expect(matchesPattern("vehicle.*", "vehicle")).toBe(false);
  });
});

describe("matchesFilter", () => {
  it.each([
    ["empty types and groups receive everything", filter({}), "report.completed", null, true],
    ["an exact type", filter({ types: ["report.completed"] }), "report.completed", null, true],
    ["another type", filter({ types: ["report.completed"] }), "report.started", null, false],
    ["a wildcard type", filter({ types: ["vehicle.*"] }), "vehicle.tire.changed", null, true],
    ["the group", filter({ groups: ["inspections"] }), "report.completed", "inspections", true],
    ["another group", filter({ groups: ["inspections"] }), "report.completed", "billing", false],
    ["no group against a group list", filter({ groups: ["inspections"] }), "report.completed", null, false],
    ["groups only, type unmatched", filter({ types: ["x.y"], groups: ["g"] }), "a.b", "g", true],
    ["exclusion alone", filter({ exclude: ["vehicle.deleted"] }), "vehicle.deleted", null, false],
    ["exclusion leaves the rest", filter({ exclude: ["vehicle.deleted"] }), "vehicle.created", null, true],
    ["exclusion over a type", filter({ types: ["vehicle.*"], exclude: ["vehicle.deleted"] }), "vehicle.deleted", null, false],
    ["wildcard exclusion over a group", filter({ groups: ["g"], exclude: ["vehicle.*"] }), "vehicle.created", "g", false],
    ["exclusion of everything", filter({ exclude: ["*"] }), "a.b", null, false],
  ] as const)("%s", (_, f, type, group, expected) => {
    expect(matchesFilter(f, type, group)).toBe(expected);
  });

  const segment = fc.stringMatching(/^[a-z0-9_]{1,4}$/);
  const pattern = fc.oneof(
    fc.constant("*"),
    fc.array(segment, { minLength: 2, maxLength: 4 }).map((s) => s.join(".")),
    fc.array(segment, { minLength: 1, maxLength: 3 }).map((s) => `${s.join(".")}.*`),
  );

  const typeName = fc.array(segment, { minLength: 2, maxLength: 4 });
  const anyFilter = fc.record({ types: fc.array(pattern), exclude: fc.array(pattern), groups: fc.array(segment) });

  it("an exclude match always wins, whatever types and groups say", () => {
    fc.assert(
      fc.property(anyFilter, typeName, fc.nat(), fc.option(segment, { nil: null }), (f, segments, cut, group) => {
        const type = segments.join(".");
        // Something in exclude that matches: the name itself, `*`, or one of its prefixes.
        const prefixes = segments.slice(0, -1).map((_, i) => `${segments.slice(0, i + 1).join(".")}.*`);
        const candidates = [type, "*", ...prefixes];
        const excluding = candidates[cut % candidates.length]!;
        const groups = group === null ? f.groups : [...f.groups, group];
        expect(matchesFilter({ ...f, groups, exclude: [...f.exclude, excluding] }, type, group)).toBe(false);
      }),
    );
  });

  it("adding an exclusion never makes a filter receive more", () => {
    fc.assert(
      fc.property(anyFilter, pattern, typeName, fc.option(segment, { nil: null }), (f, extra, segments, group) => {
        const type = segments.join(".");
        if (!matchesFilter(f, type, group)) expect(matchesFilter({ ...f, exclude: [...f.exclude, extra] }, type, group)).toBe(false);
      }),
    );
  });
});
