import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkEndpointUrl } from "../../src/domain/url-policy";

const refused = (raw: string, allowPrivate = false) => {
  const result = checkEndpointUrl(raw, allowPrivate);
  return result.ok ? null : result.message;
};

describe("checkEndpointUrl", () => {
  it.each([
    ["https://example.com/hook", "https://example.com/hook"],
    ["HTTPS://Example.COM:8443/a?b=c", "https://example.com:8443/a?b=c"],
    ["https://example.com./hook", "https://example.com./hook"],
    ["https://8.8.8.8/", "https://8.8.8.8/"],
    ["https://[2606:4700:4700::1111]/", "https://[2606:4700:4700::1111]/"],
    ["https://bücher.example/", "https://xn--bcher-kva.example/"],
    ["https://localhost.example.com/", "https://localhost.example.com/"],
    ["https://internal.example.com/", "https://internal.example.com/"],
  ])("accepts %s as %s", (raw, url) => {
    expect(checkEndpointUrl(raw, false)).toEqual({ ok: true, url });
  });

  it.each(["not a url", "/relative", "https://", "https://1.2.3.4.5/", "https://[fe80::1%25eth0]/", "https://exa mple.com/"])(
    "refuses the unparseable %j",
    (raw) => {
      expect(refused(raw)).toBe("The URL is not a valid absolute URL.");
    },
  );

  it.each(["http://example.com/", "ftp://example.com/", "ws://example.com/", "file:///etc/passwd", "javascript:alert(1)"])(
    "refuses the scheme of %s",
    (raw) => {
      expect(refused(raw)).toBe("The URL must use https.");
    },
  );

  it.each(["https://user:pass@example.com/", "https://user@example.com/", "https://:pass@example.com/"])(
    "refuses credentials in %s, even when private URLs are allowed",
    (raw) => {
      const message = "The URL must not contain a username or password.";
      expect(refused(raw)).toBe(message);
      expect(refused(raw, true)).toBe(message);
    },
  );

  it.each([
    "https://localhost/",
    "https://LOCALHOST:8443/",
    "https://localhost./",
    "https://api.localhost/",
    "https://db.internal/",
    "https://metadata.google.internal./",
    "https://internal/",
  ])("refuses the internal name %s", (raw) => {
    expect(refused(raw)).toBe("The URL must not point to localhost or an internal host name.");
  });

  it.each([
    // IPv4 ranges, lowest and highest address of each
    "0.0.0.0", "0.255.255.255", "10.0.0.0", "10.255.255.255", "100.64.0.0", "100.127.255.255",
    "127.0.0.1", "127.255.255.255", "169.254.169.254", "172.16.0.0", "172.31.255.255",
    "192.0.0.0", "192.0.0.255", "192.168.0.1", "198.18.0.0", "198.19.255.255",
    "224.0.0.1", "239.255.255.255", "240.0.0.0", "255.255.255.255",
    // spellings the WHATWG parser normalises
    "2130706433", "0x7f.1", "127.1", "0177.0.0.1", "0x7f000001", "127.0.0.1.", "0",
    "%31%32%37.0.0.1", "127。0。0。1", "①②⑦.0.0.1",
    // IPv6
    "[::]", "[::1]", "[0:0:0:0:0:0:0:1]", "[fc00::1]", "[fd12:3456::1]", "[fe80::1]", "[febf::1]", "[ff02::1]",
    // IPv6 carrying a blocked IPv4
    "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::ffff:10.0.0.1]", "[::127.0.0.1]", "[::a9fe:a9fe]",
    "[64:ff9b::127.0.0.1]", "[64:ff9b::c0a8:1]", "[2002:7f00:1::]", "[2002:a9fe:a9fe::1]",
  ])("refuses the address %s", (host) => {
    expect(refused(`https://${host}/hook`)).toBe(
      "The URL must not point to a private, loopback, link-local, multicast or reserved address.",
    );
  });

  it.each([
    "1.1.1.1", "9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0", "126.255.255.255", "128.0.0.0",
    "169.253.255.255", "172.15.255.255", "172.32.0.0", "192.0.1.0", "192.167.255.255", "198.17.255.255",
    "198.20.0.0", "223.255.255.255",
    "[2606:4700::1]", "[fbff::1]", "[fec0::1]", "[::ffff:8.8.8.8]", "[::8.8.8.8]", "[64:ff9b::808:808]",
    "[2002:808:808::1]", "[64:ff9c::7f00:1]",
  ])("accepts the public address %s", (host) => {
    expect(checkEndpointUrl(`https://${host}/`, false).ok).toBe(true);
  });

  it("refuses a host with an empty label that the parser did not read as an address", () => {
    expect(refused("https://127.0.0.1../")).toBe("The URL's host name is not valid.");
  });

  it("returns the href as the WHATWG parser normalises it", () => {
    expect(checkEndpointUrl("https://EXAMPLE.com:443/a/../b?x#frag", false)).toEqual({ ok: true, url: "https://example.com/b?x#frag" });
  });

  describe("with private URLs allowed", () => {
    it.each(["http://localhost:8787/hook", "https://127.0.0.1/", "http://[::1]:9000/", "http://10.0.0.5/", "https://db.internal/"])(
      "accepts %s",
      (raw) => {
        expect(checkEndpointUrl(raw, true).ok).toBe(true);
      },
    );

    it.each(["ftp://example.com/", "ws://localhost/"])("still refuses the scheme of %s", (raw) => {
      expect(refused(raw, true)).toBe("The URL must use http or https.");
    });
  });

  it("never accepts an address in 127/8, however it is spelled", () => {
    const octet = fc.integer({ min: 0, max: 255 });
    const loopback = fc.tuple(octet, octet, octet).map(([b, c, d]) => ((127 << 24) >>> 0) + (b << 16) + (c << 8) + d);
    const spelling = fc.constantFrom(
      (n: number) => [n >>> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255].join("."),
      (n: number) => String(n),
      (n: number) => `0x${n.toString(16)}`,
      (n: number) => `0${n.toString(8)}`,
      (n: number) => `127.${n & 0xffffff}`,
      (n: number) => `0x7f.${(n >> 16) & 255}.${n & 0xffff}`,
      (n: number) => [n >>> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255].map((o) => `0x${o.toString(16)}`).join("."),
      (n: number) => `${[n >>> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255].join(".")}.`,
      (n: number) => `[::ffff:${[n >>> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255].join(".")}]`,
      (n: number) => `[::ffff:${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}]`,
      (n: number) => `[::${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}]`,
      (n: number) => `[64:ff9b::${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}]`,
      (n: number) => `[2002:${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}::1]`,
    );
    fc.assert(
      fc.property(loopback, spelling, fc.constantFrom("", ":443", ":8080"), (n, spell, port) => {
        expect(checkEndpointUrl(`https://${spell(n)}${port}/hook`, false).ok).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});
