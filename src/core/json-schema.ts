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
  const result = metaValidator.validate(schema);
  if (!result.valid) {
    return result.errors
      .filter((e) => e.keyword !== "properties" && e.keyword !== "additionalProperties")
      .slice(0, 20)
      .map((e) => ({ path: `${path}${pointerToPath(e.instanceLocation)}`, message: e.error }));
  }
  try {
    new Validator(schema as Schema, "2020-12", false).validate(null);
  } catch (err) {
    return [{ path, message: `is not a usable JSON Schema: ${(err as Error).message}` }];
  }
  return [];
}

/** Errors of `value` against `schema`, with paths under `path`. */
export function validateAgainst(schema: unknown, value: unknown, path: string): FieldError[] {
  const result = cachedValidator(schema).validate(value);
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
