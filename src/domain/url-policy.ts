/**
 * @module The endpoint URL policy (DESIGN "Configuration", URL policy): which
 * URLs Switchyard may send to. A Worker has no DNS hook, so a public name that
 * resolves to a private address cannot be caught here.
 */

/** The verdict on one URL: its normalised form, or a sentence for the user. */
export type UrlCheck = { ok: true; url: string } | { ok: false; message: string };

type Cidr4 = readonly [base: number, bits: number];

const ip4 = (a: number, b: number, c: number, d: number) => ((a << 24) >>> 0) + (b << 16) + (c << 8) + d;

const BLOCKED_IPV4: readonly Cidr4[] = [
  [ip4(0, 0, 0, 0), 8],
  [ip4(10, 0, 0, 0), 8],
  [ip4(100, 64, 0, 0), 10],
  [ip4(127, 0, 0, 0), 8],
  [ip4(169, 254, 0, 0), 16],
  [ip4(172, 16, 0, 0), 12],
  [ip4(192, 0, 0, 0), 24],
  [ip4(192, 168, 0, 0), 16],
  [ip4(198, 18, 0, 0), 15],
  [ip4(224, 0, 0, 0), 4],
  [ip4(240, 0, 0, 0), 4],
];

const DOTTED_IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

const MESSAGES = {
  unparseable: "The URL is not a valid absolute URL.",
  https: "The URL must use https.",
  scheme: "The URL must use http or https.",
  credentials: "The URL must not contain a username or password.",
  badHost: "The URL's host name is not valid.",
  internalName: "The URL must not point to localhost or an internal host name.",
  privateAddress: "The URL must not point to a private, loopback, link-local, multicast or reserved address.",
} as const;

/**
 * Checks an endpoint URL against the URL policy, on the URL as the WHATWG
 * parser normalises it (so `https://2130706433/`, `0x7f.1` and `127.1` are
 * seen as 127.0.0.1).
 *
 * @param allowPrivate `ALLOW_PRIVATE_URLS`: also allows `http:` and private hosts,
 *   never credentials in the URL
 * @returns the normalised href, or a user-facing message
 * @example checkEndpointUrl("https://127.1/hook", false) // { ok: false, message: "…" }
 */
export function checkEndpointUrl(raw: string, allowPrivate: boolean): UrlCheck {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, message: MESSAGES.unparseable };
  }
  if (url.protocol !== "https:" && !(allowPrivate && url.protocol === "http:")) {
    return { ok: false, message: allowPrivate ? MESSAGES.scheme : MESSAGES.https };
  }
  if (url.username !== "" || url.password !== "") return { ok: false, message: MESSAGES.credentials };
  if (!allowPrivate) {
    const problem = hostProblem(url.hostname);
    if (problem) return { ok: false, message: MESSAGES[problem] };
  }
  return { ok: true, url: url.href };
}

function hostProblem(hostname: string): "badHost" | "internalName" | "privateAddress" | null {
  const host = hostname.endsWith(".") ? hostname.slice(0, -1) : hostname;
  if (host.startsWith("[")) {
    const groups = parseIpv6(host.slice(1, -1));
    if (!groups) return "badHost";
    return isBlockedIpv6(groups) ? "privateAddress" : null;
  }
  const dotted = DOTTED_IPV4.exec(host);
  if (dotted) {
    const octets = dotted.slice(1).map(Number);
    if (octets.some((octet) => octet > 255)) return "badHost";
    const [a = 0, b = 0, c = 0, d = 0] = octets;
    return isBlockedIpv4(ip4(a, b, c, d)) ? "privateAddress" : null;
  }
  // Any empty label left after one trailing dot (`127.0.0.1..`) is a name no
  // resolver accepts, and one that WHATWG did not get to read as an address.
  if (host === "" || host.split(".").includes("")) return "badHost";
  if (host === "localhost" || host.endsWith(".localhost")) return "internalName";
  if (host === "internal" || host.endsWith(".internal")) return "internalName";
  return null;
}

function isBlockedIpv4(address: number): boolean {
  return BLOCKED_IPV4.some(([base, bits]) => address >>> (32 - bits) === base >>> (32 - bits));
}

function isBlockedIpv6(g: readonly number[]): boolean {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g;
  const embedded = (high: number, low: number) => isBlockedIpv4(((high << 16) >>> 0) + low);
  const zeroThrough4 = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0;
  // ::/96 (IPv4-compatible) also covers :: and ::1, which embed 0.0.0.0 and 0.0.0.1 (0/8).
  if (zeroThrough4 && (g5 === 0 || g5 === 0xffff)) return embedded(g6, g7);
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return embedded(g6, g7);
  if (g0 === 0x2002) return embedded(g1, g2);
  return (g0 & 0xfe00) === 0xfc00 || (g0 & 0xffc0) === 0xfe80 || (g0 & 0xff00) === 0xff00;
}

/** Eight 16-bit groups of an IPv6 literal (with `::` and a dotted IPv4 tail), or null. */
function parseIpv6(text: string): number[] | null {
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const parseHalf = (half: string | undefined): number[] | null => {
    if (!half) return [];
    const out: number[] = [];
    const parts = half.split(":");
    for (const [i, part] of parts.entries()) {
      const v4 = i === parts.length - 1 ? DOTTED_IPV4.exec(part) : null;
      if (v4) {
        const [a = 0, b = 0, c = 0, d = 0] = v4.slice(1).map(Number);
        if ([a, b, c, d].some((octet) => octet > 255)) return null;
        out.push((a << 8) + b, (c << 8) + d);
      } else if (/^[0-9a-f]{1,4}$/i.test(part)) {
        out.push(parseInt(part, 16));
      } else {
        return null;
      }
    }
    return out;
  };
  const head = parseHalf(halves[0]);
  const tail = parseHalf(halves[1]);
  if (!head || !tail) return null;
  if (halves.length === 1) return head.length === 8 ? head : null;
  const missing = 8 - head.length - tail.length;
  return missing >= 1 ? [...head, ...Array<number>(missing).fill(0), ...tail] : null;
}
