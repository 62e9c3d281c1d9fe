/**
 * @module Event data validation with @cfworker/json-schema (draft 2020-12).
 *
 * The library ships no meta-schemas, so a schema is checked against the subset below:
 * each keyword that takes a schema, a list or a type name must hold one. Unknown
 * keywords are allowed, as JSON Schema allows them.
 */
import { Validator, type Schema } from "@cfworker/json-schema";
import type { FieldError } from "../errors";

const schemaRef = { $ref: "#" };
const META_SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  type: ["object", "boolean"],
  properties: {
    type: {
      anyOf: [
        { enum: ["null", "boolean", "object", "array", "number", "string", "integer"] },
        { type: "array", items: { enum: ["null", "boolean", "object", "array", "number", "string", "integer"] }, minItems: 1 },
      ],
    },
    properties: { type: "object", additionalProperties: schemaRef },
    patternProperties: { type: "object", additionalProperties: schemaRef },
    $defs: { type: "object", additionalProperties: schemaRef },
    additionalProperties: schemaRef,
    items: schemaRef,
    prefixItems: { type: "array", items: schemaRef },
    contains: schemaRef,
    not: schemaRef,
    if: schemaRef,
    then: schemaRef,
    else: schemaRef,
    allOf: { type: "array", items: schemaRef, minItems: 1 },
    anyOf: { type: "array", items: schemaRef, minItems: 1 },
    oneOf: { type: "array", items: schemaRef, minItems: 1 },
    required: { type: "array", items: { type: "string" } },
    enum: { type: "array" },
    minimum: { type: "number" },
    maximum: { type: "number" },
    exclusiveMinimum: { type: "number" },
    exclusiveMaximum: { type: "number" },
    multipleOf: { type: "number", exclusiveMinimum: 0 },
    minLength: { type: "integer", minimum: 0 },
    maxLength: { type: "integer", minimum: 0 },
    minItems: { type: "integer", minimum: 0 },
    maxItems: { type: "integer", minimum: 0 },
    minProperties: { type: "integer", minimum: 0 },
    maxProperties: { type: "integer", minimum: 0 },
    uniqueItems: { type: "boolean" },
    pattern: { type: "string", format: "regex" },
    format: { type: "string" },
    $ref: { type: "string" },
    $id: { type: "string" },
  },
};

const metaValidator = new Validator(META_SCHEMA as Schema, "2020-12", false);

/** Errors that make `schema` unusable as an event type's JSON Schema (empty when fine). */
export function checkJsonSchema(schema: unknown, path = "schema"): FieldError[] {
  try {
    const result = metaValidator.validate(schema);
    if (!result.valid) {
      return result.errors
        .filter((e) => e.keyword !== "properties" && e.keyword !== "additionalProperties")
        .slice(0, 20)
        .map((e) => ({ path: `${path}${pointerToPath(e.instanceLocation)}`, message: e.error }));
    }
    // The library compiles patternProperties keys and resolves $refs only when an instance
    // reaches them, so a bad one would first throw while validating an event (a 500).
    const lazy = lazyProblems(schema, schema, path);
    if (lazy.length) return lazy.slice(0, 20);
    new Validator(schema as Schema, "2020-12", false).validate(null);
  } catch (err) {
    return [{ path, message: `is not a usable JSON Schema: ${(err as Error).message}` }];
  }
  return [];
}

/**
 * A group that holds a quantifier and is itself quantified — `(a+)+`, `(?:\\w*)*`,
 * `([a-z]+){2,}` — backtracks exponentially on a near miss: one event (or a tenant's test
 * send) would pin the Worker's CPU. A heuristic: it does not see overlapping alternations.
 */
const NESTED_QUANTIFIER = /\((?:[^()\\]|\\.)*(?:[+*]|\{\d+,\d*\})\)(?:[+*]|\{\d+,\d*\})/;
const NESTED_QUANTIFIER_MESSAGE = "nests quantifiers (like (a+)+), which can take exponential time to match";

/** patternProperties keys that are not regular expressions, and `#/…` $refs that point nowhere. */
function lazyProblems(root: unknown, node: unknown, path: string): FieldError[] {
  // An explicit stack: a deeply nested schema must not overflow the call stack.
  const out: FieldError[] = [];
  const stack: [unknown, string][] = [[node, path]];
  while (stack.length && out.length < 20) {
    const [n, p] = stack.pop()!;
    if (n === null || typeof n !== "object") continue;
    if (Array.isArray(n)) {
      n.forEach((item, i) => stack.push([item, `${p}[${i}]`]));
      continue;
    }
    const obj = n as Record<string, unknown>;
    if (obj.patternProperties && typeof obj.patternProperties === "object") {
      for (const key of Object.keys(obj.patternProperties)) {
        try {
          new RegExp(key, "u");
        } catch {
          out.push({ path: `${p}.patternProperties`, message: `${JSON.stringify(key)} is not a valid regular expression` });
        }
        if (NESTED_QUANTIFIER.test(key)) out.push({ path: `${p}.patternProperties`, message: `${JSON.stringify(key)} ${NESTED_QUANTIFIER_MESSAGE}` });
      }
    }
    if (typeof obj.pattern === "string" && NESTED_QUANTIFIER.test(obj.pattern)) out.push({ path: `${p}.pattern`, message: NESTED_QUANTIFIER_MESSAGE });
    if (typeof obj.$ref === "string" && obj.$ref.startsWith("#/") && resolvePointer(root, obj.$ref.slice(1)) === undefined) {
      out.push({ path: `${p}.$ref`, message: `${obj.$ref} does not point into this schema` });
    }
    for (const [k, v] of Object.entries(obj)) if (k !== "enum" && k !== "const" && k !== "examples" && k !== "default") stack.push([v, `${p}.${k}`]);
  }
  return out;
}

function resolvePointer(root: unknown, pointer: string): unknown {
  let at: unknown = root;
  for (const raw of pointer.split("/").slice(1)) {
    const key = decodeURIComponent(raw).replaceAll("~1", "/").replaceAll("~0", "~");
    if (at === null || typeof at !== "object" || !Object.hasOwn(at, key)) return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return at;
}

/** Errors of `value` against `schema`, with paths under `path`. */
export function validateAgainst(schema: unknown, value: unknown, path: string): FieldError[] {
  let result: ReturnType<Validator["validate"]>;
  try {
    result = cachedValidator(schema).validate(value);
  } catch (err) {
    // A schema stored before checkJsonSchema caught its flaw, or data nested deeper than the
    // validator's recursion can follow (a recursive schema): the data is refused, not a 500.
    const reason = err instanceof RangeError ? "is nested too deeply to validate" : `could not be validated against the schema: ${(err as Error).message}`;
    return [{ path, message: reason }];
  }
  if (result.valid) return [];
  // The library reports a failing parent and then each cause; keep the causes.
  const leaves = result.errors.filter((e) => !["properties", "items", "allOf", "$ref", "prefixItems", "additionalProperties"].includes(e.keyword) || result.errors.length === 1);
  return (leaves.length ? leaves : result.errors).slice(0, 50).map((e) => ({
    path: `${path}${pointerToPath(e.instanceLocation)}`,
    message: e.error,
  }));
}

const validators = new Map<string, Validator>();

function cachedValidator(schema: unknown): Validator {
  const key = JSON.stringify(schema);
  let v = validators.get(key);
  if (!v) {
    if (validators.size >= 200) validators.delete(validators.keys().next().value!);
    v = new Validator(schema as Schema, "2020-12", false);
    validators.set(key, v);
  }
  return v;
}

/** `#/a/0/b` → `.a[0].b` */
function pointerToPath(pointer: string): string {
  return pointer
    .replace(/^#/, "")
    .split("/")
    .filter(Boolean)
    .map((p) => p.replaceAll("~1", "/").replaceAll("~0", "~"))
    .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`))
    .join("");
}
