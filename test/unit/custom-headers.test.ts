import { describe, expect, it } from "vitest";
import { checkCustomHeaders } from "../../src/domain/custom-headers";

const check = (headers: Record<string, string>, hasAuth = false) => checkCustomHeaders(headers, { prefix: "Switchyard", hasAuth });

describe("checkCustomHeaders", () => {
  it("accepts ordinary headers", () => {
    expect(check({ "X-Custom": "v", "X-Api-Version": "2024-01-01", "X-Tab": "a\tb", Accept: "application/json" })).toEqual([]);
  });

  it("accepts no headers", () => {
    expect(check({})).toEqual([]);
  });

  it("accepts exactly 20 headers", () => {
    expect(check(Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`X-H${i}`, "v"])))).toEqual([]);
  });

  it("refuses more than 20 headers", () => {
    expect(check(Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`X-H${i}`, "v"])))).toEqual([
      { path: "headers", message: "must have at most 20 entries" },
    ]);
  });

  it.each(["", "X Custom", "X-Custom:", "X-Ü", "(x)", "X/Y", 'X"Y', "X\nY"])("refuses the header name %j", (name) => {
    expect(check({ [name]: "v" })).toEqual([{ path: `headers.${name}`, message: "is not a valid header name" }]);
  });

  it.each([
    "Host",
    "host",
    "Content-Type",
    "CONTENT-LENGTH",
    "User-Agent",
    "Webhook-Id",
    "webhook-signature",
    "Webhook-Anything",
    "X-Switchyard-Signature",
    "x-switchyard-event-id",
    "X-SWITCHYARD-Custom",
    "Connection",
    "Keep-Alive",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Connection",
    "TE",
    "Trailer",
    "Transfer-Encoding",
    "Upgrade",
  ])("refuses the reserved header %s", (name) => {
    expect(check({ [name]: "v" })).toEqual([{ path: `headers.${name}`, message: "is set by Switchyard and cannot be overridden" }]);
  });

  it("reserves the x-<prefix>- headers of the configured prefix only", () => {
    expect(checkCustomHeaders({ "X-Fleet-Signature": "v" }, { prefix: "Fleet", hasAuth: false })).toHaveLength(1);
    expect(checkCustomHeaders({ "X-Switchyard-Signature": "v" }, { prefix: "Fleet", hasAuth: false })).toEqual([]);
  });

  it("allows authorization without auth and refuses it with auth", () => {
    expect(check({ Authorization: "Token abc" }, false)).toEqual([]);
    expect(check({ authorization: "Token abc" }, true)).toEqual([
      { path: "headers.authorization", message: "cannot be set while auth is configured" },
    ]);
  });

  it("refuses two spellings of one name", () => {
    expect(check({ "X-Custom": "a", "x-custom": "b" })).toEqual([
      { path: "headers.x-custom", message: "repeats another header's name (case is ignored)" },
    ]);
  });

  it.each(["a\rb", "a\nb", "a\r\nInjected: 1", "a\0b"])("refuses the value %j", (value) => {
    expect(check({ "X-Custom": value })).toEqual([{ path: "headers.X-Custom", message: "must not contain CR, LF or NUL" }]);
  });

  it.each(["\x01", "\x7f", "€", "😀"])("refuses a value with the unsendable character %j", (value) => {
    expect(check({ "X-Custom": value })).toEqual([
      { path: "headers.X-Custom", message: "contains a character that cannot be sent in a header" },
    ]);
  });

  it("accepts a Latin-1 value, which fetch sends as is", () => {
    expect(check({ "X-Name": "Zoë" })).toEqual([]);
  });

  it("accepts a 4096-character value and refuses a longer one", () => {
    expect(check({ "X-Long": "v".repeat(4096) })).toEqual([]);
    expect(check({ "X-Long": "v".repeat(4097) })).toEqual([{ path: "headers.X-Long", message: "must be at most 4096 characters" }]);
  });

  it("reports every problem, each at its own header", () => {
    expect(check({ Host: "x", "X-Ok": "fine", "X-Bad": "a\nb" }).map((p) => p.path)).toEqual(["headers.Host", "headers.X-Bad"]);
  });
});
