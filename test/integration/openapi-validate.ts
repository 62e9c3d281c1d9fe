/**
 * @module Checks every answer the integration suite receives against the OpenAPI document
 * the Worker serves (`/openapi.json`), so the document cannot drift from the Worker
 * (docs/api-contract.md). The operation is found by method and path template; its status
 * must be declared; the body must match the declared media type and schema (JSON Schema
 * 2020-12, as OpenAPI 3.1 has it, with `#/components/schemas/…` references resolved); the
 * declared required headers must be there. A /v1 path no operation serves must still
 * answer a problem document. The API helpers (`api` in helpers.ts, `call` in
 * hardening-helpers.ts and pipeline-helpers.ts) call `expectDocumented` on every answer.
 */
import { Validator, type Schema } from "@cfworker/json-schema";
import { exports } from "cloudflare:workers";

/** The parts of an OpenAPI 3.1 document this check reads. */
export interface OpenApiDocument {
  paths: Record<string, Record<string, Operation | unknown>>;
  components?: { schemas?: Record<string, Schema> };
}

interface Operation {
  operationId?: string;
  responses: Record<string, ResponseObject>;
}

interface ResponseObject {
  content?: Record<string, { schema?: Schema }>;
  headers?: Record<string, { required?: boolean; schema?: Schema }>;
}

/** The request as the Worker saw it: only its method and URL matter here. */
export interface SentRequest {
  method: string;
  url: string;
}

export interface ReceivedResponse {
  status: number;
  headers: Headers;
  /** The body as text (already read by the caller). */
  text: string;
}

const METHODS = new Set(["get", "put", "post", "delete", "options", "head", "patch", "trace"]);
/** Errors quoted per mismatch: enough to see the cause, short enough to read. */
const ERRORS_SHOWN = 5;

let served: Promise<OpenApiDocument> | undefined;

/** The document the Worker serves, fetched once per test file (each file has its own module). */
export function servedDocument(): Promise<OpenApiDocument> {
  served ??= (async () => {
    const res = await exports.default.fetch(new Request("http://x/openapi.json"));
    if (res.status !== 200) throw new Error(`/openapi.json answered ${res.status}`);
    return (await res.json()) as OpenApiDocument;
  })();
  return served;
}

/** Fails the calling test when the answer contradicts the served document. */
export async function expectDocumented(request: SentRequest, response: ReceivedResponse): Promise<void> {
  const problem = documentMismatch(await servedDocument(), request, response);
  if (problem) throw new Error(`The answer contradicts /openapi.json (docs/api-contract.md): ${problem}`);
}

/** Why the answer contradicts `doc`, or null when it matches (or names no documented path). */
export function documentMismatch(doc: OpenApiDocument, request: SentRequest, response: ReceivedResponse): string | null {
  const method = request.method.toLowerCase();
  const path = new URL(request.url).pathname;
  const found = findOperation(doc, method, path);
  const where = `${request.method.toUpperCase()} ${path}`;
  if (!found) {
    if (!path.startsWith("/v1/")) return null; // the portal, /docs, /openapi.json: not API operations
    const schema = doc.components?.schemas?.Problem;
    if (!schema) return `${where}: the document has no Problem schema for an unrouted /v1 path`;
    const label = `${where} (no operation) answered ${response.status}`;
    return checkBody(doc, label, { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } }, response);
  }
  const label = `${where} (${found.op.operationId ?? found.template}) answered ${response.status}`;
  const declared = found.op.responses[String(response.status)] ?? found.op.responses[`${String(response.status)[0]}XX`] ?? found.op.responses.default;
  if (!declared) return `${label}, a status the document does not declare (it declares ${Object.keys(found.op.responses).join(", ")}); body: ${response.text.slice(0, 300)}`;
  for (const [name, header] of Object.entries(declared.headers ?? {})) {
    const value = response.headers.get(name);
    if (value === null) {
      if (header.required) return `${label} without its required ${name} header`;
      continue;
    }
    if (header.schema) {
      const asNumber = header.schema.type === "integer" || header.schema.type === "number";
      const errors = validate(doc, header.schema, asNumber && /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value);
      if (errors) return `${label} with header ${name}: ${JSON.stringify(value)} does not match: ${errors}`;
    }
  }
  return checkBody(doc, label, declared.content, response);
}

/** The operation serving `path`, preferring literal segments over templated ones (`/replay` over `/{id}`). */
function findOperation(doc: OpenApiDocument, method: string, path: string): { template: string; op: Operation } | undefined {
  if (!METHODS.has(method)) return undefined;
  const segments = path.split("/");
  let best: { template: string; op: Operation; literals: number } | undefined;
  for (const [template, item] of Object.entries(doc.paths)) {
    const op = item[method] as Operation | undefined;
    if (!op) continue;
    const parts = template.split("/");
    if (parts.length !== segments.length) continue;
    let literals = 0;
    // Hono's parameters match one non-empty segment, so an empty one never does.
    const matches = parts.every((part, i) => {
      if (/^\{[^}]+\}$/.test(part)) return segments[i] !== "";
      literals += 1;
      return part === segments[i];
    });
    if (matches && (!best || literals > best.literals)) best = { template, op, literals };
  }
  return best;
}

function checkBody(doc: OpenApiDocument, label: string, content: ResponseObject["content"], response: ReceivedResponse): string | null {
  const mediaType = (response.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (!content || Object.keys(content).length === 0) {
    return response.text === "" ? null : `${label} with a body (${mediaType || "no content-type"}) where the document declares none: ${response.text.slice(0, 300)}`;
  }
  const media = content[mediaType];
  if (!media) return `${label} with content-type ${JSON.stringify(mediaType)}, not ${Object.keys(content).join(" or ")}; body: ${response.text.slice(0, 300)}`;
  if (!media.schema) return null;
  let body: unknown;
  try {
    body = JSON.parse(response.text);
  } catch {
    return `${label} with a body that is not JSON: ${response.text.slice(0, 300)}`;
  }
  const errors = validate(doc, media.schema, body);
  return errors ? `${label}, body does not match its ${mediaType} schema: ${errors}; body: ${response.text.slice(0, 500)}` : null;
}

const validators = new WeakMap<OpenApiDocument, Map<Schema, Validator>>();

/** The first errors of validating `value` against `schema` (its $refs resolved in `doc`), or null. */
function validate(doc: OpenApiDocument, schema: Schema, value: unknown): string | null {
  let byDoc = validators.get(doc);
  if (!byDoc) validators.set(doc, (byDoc = new Map()));
  let validator = byDoc.get(schema);
  if (!validator) {
    // `#/components/schemas/X` resolves against the root, so the components ride along at
    // the same pointer; the document is cloned because the library annotates what it reads.
    const root = structuredClone({ ...schema, components: { schemas: doc.components?.schemas ?? {} } }) as Schema;
    validator = new Validator(root, "2020-12", false);
    byDoc.set(schema, validator);
  }
  const result = validator.validate(value);
  if (result.valid) return null;
  // The library reports each failing parent too; the deepest errors name the cause.
  const deepest = [...result.errors].sort((a, b) => b.instanceLocation.length - a.instanceLocation.length).slice(0, ERRORS_SHOWN);
  return deepest.map((e) => `${e.instanceLocation} ${e.error}`).join("; ");
}
