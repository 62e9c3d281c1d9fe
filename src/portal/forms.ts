/**
 * @module The portal's HTML forms as values: reading a submitted form, turning the
 * endpoint form into the same input the API takes, and back. Pure: no context, no I/O.
 */
import { ENDPOINT_LIMITS as L, type EndpointAuth, type EndpointInput } from "../core/endpoints";
import { CIRCUIT_LIMITS, DEFAULT_CIRCUIT } from "../domain/circuit";
import type { EndpointRow } from "../db/queries/endpoints";
import type { FieldError } from "../errors";
import { scheduleEntry } from "./words";

/** A parsed form body (`c.req.parseBody({ all: true })`). */
export type FormBody = Record<string, string | File | (string | File)[]>;

/** One text field ("" when absent; the first value when repeated). */
export function field(form: FormBody, name: string): string {
  const v = form[name];
  const first = Array.isArray(v) ? v[0] : v;
  return typeof first === "string" ? first : "";
}

/** Every value of a repeated field (checkboxes). */
export function fields(form: FormBody, name: string): string[] {
  const v = form[name];
  return (Array.isArray(v) ? v : v === undefined ? [] : [v]).filter((x): x is string => typeof x === "string");
}

/** Splits a list typed by hand: commas, spaces or new lines. */
export const splitList = (text: string): string[] => text.split(/[\s,]+/).filter(Boolean);

/** The endpoint form exactly as shown: every value a string, so a refused form comes back as typed. */
export interface EndpointFormValues {
  url: string;
  description: string;
  /** "all": every event not excluded; "some": the picked types, groups and patterns. */
  events: "all" | "some";
  types: string[];
  groups: string[];
  patterns: string;
  exclude: string;
  format: string;
  signature: string;
  method: string;
  ordering: string;
  headers: string;
  /** "keep" leaves a stored auth as it is (edit only; auth is write-only). */
  authType: "" | "keep" | "bearer" | "basic";
  authToken: string;
  authUsername: string;
  authPassword: string;
  rateLimit: string;
  timeoutS: string;
  retrySchedule: string;
  /** The circuit breaker: "on" or "off" (a choice, so a form without it keeps the default, on). */
  circuit: "on" | "off";
  circuitOpenAfter: string;
  circuitCoolOffS: string;
}

export const EMPTY_ENDPOINT_FORM: EndpointFormValues = {
  url: "",
  description: "",
  events: "all",
  types: [],
  groups: [],
  patterns: "",
  exclude: "",
  format: "standard",
  signature: "standard",
  method: "POST",
  ordering: "none",
  headers: "",
  authType: "",
  authToken: "",
  authUsername: "",
  authPassword: "",
  rateLimit: "",
  timeoutS: "15",
  retrySchedule: "",
  circuit: DEFAULT_CIRCUIT.enabled ? "on" : "off",
  circuitOpenAfter: String(DEFAULT_CIRCUIT.open_after),
  circuitCoolOffS: String(DEFAULT_CIRCUIT.cool_off_s),
};

/** The form of an existing endpoint; `catalog` decides which types are ticked and which are typed patterns. */
export function endpointFormValues(e: EndpointRow, catalog: ReadonlySet<string>): EndpointFormValues {
  const picked = e.filter.types.filter((t) => catalog.has(t));
  return {
    url: e.url,
    description: e.description,
    events: e.filter.types.length || e.filter.groups.length ? "some" : "all",
    types: picked,
    groups: e.filter.groups,
    patterns: e.filter.types.filter((t) => !catalog.has(t)).join(", "),
    exclude: e.filter.exclude.join(", "),
    format: e.format,
    signature: e.signature,
    method: e.method,
    ordering: e.ordering,
    headers: Object.entries(e.headers)
      .map(([k, v]) => `${k}: ${v}`)
      .join("\n"),
    authType: e.authType ? "keep" : "",
    authToken: "",
    authUsername: "",
    authPassword: "",
    rateLimit: e.rateLimit === null ? "" : String(e.rateLimit),
    timeoutS: String(e.timeoutMs / 1000),
    retrySchedule: e.retrySchedule === null ? "" : e.retrySchedule.length === 0 ? "none" : e.retrySchedule.map(scheduleEntry).join(", "),
    circuit: e.circuit.enabled ? "on" : "off",
    circuitOpenAfter: String(e.circuit.open_after),
    circuitCoolOffS: String(e.circuit.cool_off_s),
  };
}

/** Reads a submitted endpoint form. */
export function readEndpointForm(form: FormBody): EndpointFormValues {
  const authType = field(form, "auth_type");
  return {
    url: field(form, "url").trim(),
    description: field(form, "description").trim(),
    events: field(form, "events") === "some" ? "some" : "all",
    types: fields(form, "types"),
    groups: fields(form, "groups"),
    patterns: field(form, "patterns"),
    exclude: field(form, "exclude"),
    format: field(form, "format"),
    signature: field(form, "signature"),
    method: field(form, "method"),
    ordering: field(form, "ordering"),
    headers: field(form, "headers"),
    authType: authType === "keep" || authType === "bearer" || authType === "basic" ? authType : "",
    authToken: field(form, "auth_token"),
    authUsername: field(form, "auth_username"),
    authPassword: field(form, "auth_password"),
    rateLimit: field(form, "rate_limit").trim(),
    timeoutS: field(form, "timeout_s").trim(),
    retrySchedule: field(form, "retry_schedule").trim(),
    circuit: field(form, "circuit") === "off" ? "off" : "on",
    circuitOpenAfter: field(form, "circuit_open_after").trim(),
    circuitCoolOffS: field(form, "circuit_cool_off_s").trim(),
  };
}

/** A value typed by hand, or why it could not be read. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

const UNIT_SECONDS: Record<string, number> = { s: 1, sec: 1, m: 60, min: 60, h: 3600, d: 86_400 };

/**
 * A retry schedule typed by hand: "" is the default schedule (null), "none" is no retries
 * ([]), else waits such as "5 s, 5 min, 2 h" or plain seconds "5, 300".
 */
export function parseRetrySchedule(text: string): Parsed<number[] | null> {
  const t = text.trim().toLowerCase();
  if (t === "" || t === "default") return { ok: true, value: null };
  if (t === "none" || t === "[]" || t === "0") return { ok: true, value: [] };
  const parts = t.replace(/^\[|\]$/g, "").split(/\s*,\s*/).filter(Boolean);
  const out: number[] = [];
  for (const part of parts) {
    const m = /^(\d+)\s*(s|sec|m|min|h|d)?$/.exec(part);
    if (!m) return { ok: false, error: `"${part}" is not a wait such as 30 s, 5 min or 2 h` };
    out.push(Number(m[1]) * UNIT_SECONDS[m[2] ?? "s"]!);
  }
  if (out.length > L.retryEntriesMax) return { ok: false, error: `at most ${L.retryEntriesMax} retries` };
  if (out.some((s) => s < 1 || s > L.retryWaitMaxS)) return { ok: false, error: "each wait must be between 1 second and 1 day" };
  return { ok: true, value: out };
}

/** "Name: value" lines as a header map. */
export function parseHeaderLines(text: string): Parsed<Record<string, string>> {
  const entries: [string, string][] = [];
  for (const [i, line] of text.split(/\r?\n/).entries()) {
    if (!line.trim()) continue;
    const colon = line.indexOf(":");
    if (colon <= 0) return { ok: false, error: `line ${i + 1} is not "Name: value"` };
    entries.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
  }
  // fromEntries defines own properties, so even a header named __proto__ is kept as typed.
  return { ok: true, value: Object.fromEntries(entries) };
}

const oneOf = <T extends string>(value: string, allowed: readonly T[]): T | undefined => (allowed as readonly string[]).includes(value) ? (value as T) : undefined;

/**
 * The endpoint form as the API's input (every field named, so an edit replaces each one
 * whole, like a PATCH naming them all). Shape errors come back with form field names as
 * paths; the domain rules (URL policy, filter syntax, header names) are checked by the
 * core verbs the caller passes the input to.
 */
export function endpointInput(v: EndpointFormValues): { input: EndpointInput & { auth?: EndpointAuth | null }; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const fail = (path: string, message: string) => errors.push({ path, message });

  if (!v.url) fail("url", "Enter the URL that should receive the webhooks.");
  else if (v.url.length > 2048) fail("url", "The URL is too long (at most 2048 characters).");
  if (v.description.length > L.descriptionMax) fail("description", `The description is too long (at most ${L.descriptionMax} characters).`);

  const patterns = splitList(v.patterns);
  const exclude = splitList(v.exclude);
  const types = v.events === "some" ? [...new Set([...v.types, ...patterns])] : [];
  const groups = v.events === "some" ? [...new Set(v.groups)] : [];
  if (v.events === "some" && types.length === 0 && groups.length === 0) fail("events", "Pick at least one event, or choose “All events”.");
  if (types.length > 100 || exclude.length > 100) fail("events", "At most 100 event types or patterns.");
  if (groups.length > 50) fail("events", "At most 50 groups.");

  const headers = parseHeaderLines(v.headers);
  if (!headers.ok) fail("headers", `Custom headers: ${headers.error}.`);

  let auth: EndpointAuth | null | undefined;
  if (v.authType === "keep") auth = undefined;
  else if (v.authType === "bearer") {
    if (!v.authToken || v.authToken.length > 4096) fail("auth", "Enter the token (at most 4096 characters).");
    auth = { type: "bearer", token: v.authToken };
  } else if (v.authType === "basic") {
    if (!v.authUsername || v.authUsername.length > 1024 || v.authUsername.includes(":")) fail("auth", "Enter a user name without “:” (at most 1024 characters).");
    if (v.authPassword.length > 1024) fail("auth", "The password is too long (at most 1024 characters).");
    auth = { type: "basic", username: v.authUsername, password: v.authPassword };
  } else auth = null;

  let rateLimit: number | null = null;
  if (v.rateLimit) {
    rateLimit = Number(v.rateLimit);
    if (!Number.isInteger(rateLimit) || rateLimit < 1 || rateLimit > L.rateLimitMax) fail("rate_limit", `The rate limit is a whole number from 1 to ${L.rateLimitMax} per second, or empty for none.`);
  }
  const timeoutS = v.timeoutS ? Number(v.timeoutS) : 15;
  if (!Number.isFinite(timeoutS) || timeoutS * 1000 < L.timeoutMinMs || timeoutS * 1000 > L.timeoutMaxMs) {
    fail("timeout_s", `The timeout is between ${L.timeoutMinMs / 1000} and ${L.timeoutMaxMs / 1000} seconds.`);
  }

  // Empty numbers take the defaults, as a member left out of the API's `circuit` does.
  const { openAfter: OA, coolOffS: CO } = CIRCUIT_LIMITS;
  const openAfter = v.circuitOpenAfter ? Number(v.circuitOpenAfter) : DEFAULT_CIRCUIT.open_after;
  if (!Number.isInteger(openAfter) || openAfter < OA.min || openAfter > OA.max) {
    fail("circuit_open_after", `Pause after a whole number from ${OA.min} to ${OA.max} timeouts in a row.`);
  }
  const coolOffS = v.circuitCoolOffS ? Number(v.circuitCoolOffS) : DEFAULT_CIRCUIT.cool_off_s;
  if (!Number.isInteger(coolOffS) || coolOffS < CO.min || coolOffS > CO.max) {
    fail("circuit_cool_off_s", `The wait before trying again is a whole number of seconds from ${CO.min} to ${CO.max}.`);
  }

  const schedule = parseRetrySchedule(v.retrySchedule);
  if (!schedule.ok) fail("retry_schedule", `Retry schedule: ${schedule.error}.`);

  const format = oneOf(v.format, ["standard", "cloudevents"] as const);
  const signature = oneOf(v.signature, ["standard", "hmac-sha256-hex", "timestamped-hex"] as const);
  const method = oneOf(v.method, ["POST", "PUT"] as const);
  const ordering = oneOf(v.ordering, ["none", "fifo"] as const);
  if (!format) fail("format", "Choose a body format.");
  if (!signature) fail("signature", "Choose a signature.");
  if (!method) fail("method", "Choose POST or PUT.");
  if (!ordering) fail("ordering", "Choose an ordering.");

  const input = {
    url: v.url,
    description: v.description,
    filter: { types, groups, exclude },
    method,
    headers: headers.ok ? headers.value : {},
    ...(auth === undefined ? {} : { auth }),
    format,
    signature,
    ordering,
    rate_limit: rateLimit,
    timeout_ms: Math.round(timeoutS * 1000),
    retry_schedule: schedule.ok ? schedule.value : null,
    circuit: { enabled: v.circuit === "on", open_after: openAfter, cool_off_s: coolOffS },
  };
  return { input, errors };
}

/** The form field a core validation path belongs to: "filter.types[0]" → "events", "headers.X-Foo" → "headers". */
export function formFieldOf(path: string): string {
  const head = path.split(/[.[]/)[0] ?? "";
  if (head === "filter") return "events";
  if (head === "timeout_ms") return "timeout_s";
  if (path === "circuit.open_after") return "circuit_open_after";
  if (path === "circuit.cool_off_s") return "circuit_cool_off_s";
  return head;
}

/**
 * A `<input type="datetime-local">` value read in the viewer's zone: the page's script
 * sends the zone's offset (minutes, as `Date#getTimezoneOffset`) beside it; without the
 * script the value is read as UTC, which the page then says.
 *
 * @returns unix ms, or null when empty or not a date-time
 */
export function localDateTime(value: string, offsetMinutes: string): number | null {
  if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$/.test(value)) return null;
  const utc = Date.parse(value.includes("T") ? `${value}Z` : `${value}T00:00Z`);
  if (Number.isNaN(utc)) return null;
  const offset = /^-?\d{1,4}$/.test(offsetMinutes) ? Number(offsetMinutes) : 0;
  return utc + offset * 60_000;
}
