import { describe, expect, it } from "vitest";
import { buildBody, contentType } from "../../src/domain/payload";

const event = {
  id: "evt_01hf7yat0032g7gtxde3xxrpb3",
  type: "report.completed",
  dataJson: '{"report_id": "r_1",  "score": 97.5, "tags": ["a"], "note": "Zoë \\"quoted\\""}',
  timestamp: "2026-10-21T07:28:00.000Z",
};

describe("buildBody", () => {
  it("builds the standard body with id, type, timestamp and data", () => {
    const body = buildBody("standard", event, "/switchyard");
    expect(JSON.parse(body)).toEqual({ id: event.id, type: event.type, timestamp: event.timestamp, data: JSON.parse(event.dataJson) });
    expect(Object.keys(JSON.parse(body))).toEqual(["id", "type", "timestamp", "data"]);
  });

  it("builds a structured CloudEvents 1.0 body", () => {
    const body = buildBody("cloudevents", event, "/switchyard");
    expect(JSON.parse(body)).toEqual({
      specversion: "1.0",
      id: event.id,
      source: "/switchyard",
      type: event.type,
      time: event.timestamp,
      datacontenttype: "application/json",
      data: JSON.parse(event.dataJson),
    });
  });

  it.each(["standard", "cloudevents"] as const)("splices the stored data text into a %s body verbatim", (format) => {
    const body = buildBody(format, event, "/switchyard");
    expect(body.endsWith(`"data":${event.dataJson}}`)).toBe(true);
  });

  it.each(['"a string"', "42", "null", "[1,2,3]", "true"])("carries non-object data %s", (dataJson) => {
    expect(JSON.parse(buildBody("standard", { ...event, dataJson }, "/s")).data).toEqual(JSON.parse(dataJson));
  });

  it("escapes strings in the envelope", () => {
    const body = buildBody("cloudevents", { ...event, id: 'a"b' }, 'src"\n');
    expect(JSON.parse(body)).toMatchObject({ id: 'a"b', source: 'src"\n' });
  });
});

describe("contentType", () => {
  it.each([
    ["standard", "application/json"],
    ["cloudevents", "application/cloudevents+json; charset=utf-8"],
  ] as const)("is %s → %s", (format, type) => {
    expect(contentType(format)).toBe(type);
  });
});
