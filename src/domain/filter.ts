/**
 * @module Endpoint subscription filters: which event types an endpoint receives.
 */

import { EVENT_TYPE_NAME_MAX_LENGTH, isEventTypeName } from "./ids";

/** An endpoint's subscription filter (DESIGN "Endpoints"). */
export interface EndpointFilter {
  /** Event-type names, `prefix.*` wildcards, or `*`. */
  types: string[];
  /** Patterns of the same syntax that are never delivered, whatever else matches. */
  exclude: string[];
  /** Event-type groups (product groups) whose types are delivered. */
  groups: string[];
}

const PREFIX_WILDCARD = /^[a-z0-9_]+(?:\.[a-z0-9_]+)*\.\*$/;

/**
 * Whether `pattern` is valid filter syntax: an event-type name, `prefix.*`
 * (prefix of one or more segments), or `*`. Syntax only: the types need not exist.
 */
export function isFilterPattern(pattern: string): boolean {
  if (pattern === "*") return true;
  // A prefix wildcard matches names at least one segment longer than its prefix,
  // so it can never need more characters than the longest name.
  if (pattern.length > EVENT_TYPE_NAME_MAX_LENGTH) return false;
  return PREFIX_WILDCARD.test(pattern) || isEventTypeName(pattern);
}

/**
 * Whether `eventType` matches one filter pattern: `*` matches all, `prefix.*`
 * matches one or more trailing segments, anything else matches exactly.
 *
 * @example matchesPattern("vehicle.*", "vehicle.tire.changed") // true
 * @example matchesPattern("vehicle.*", "vehicles.created") // false
 */
export function matchesPattern(pattern: string, eventType: string): boolean {
  if (pattern === "*") return true;
  if (pattern.endsWith(".*")) {
    const head = pattern.slice(0, -1);
    return eventType.length > head.length && eventType.startsWith(head);
  }
  return pattern === eventType;
}

/**
 * Whether an event is delivered to an endpoint with this filter: an `exclude`
 * match always refuses; otherwise a `types` match or the type's group in
 * `groups` accepts, and empty `types` with empty `groups` accepts everything.
 *
 * @param group the event type's group, null when it has none
 */
export function matchesFilter(filter: EndpointFilter, eventType: string, group: string | null): boolean {
  if (filter.exclude.some((pattern) => matchesPattern(pattern, eventType))) return false;
  if (filter.types.length === 0 && filter.groups.length === 0) return true;
  return (
    filter.types.some((pattern) => matchesPattern(pattern, eventType)) ||
    (group !== null && filter.groups.includes(group))
  );
}
