/**
 * @module The body of a delivered request (DESIGN "The delivered request"),
 * built as text around the event's stored JSON.
 */

/** The body formats an endpoint can choose. */
export const PAYLOAD_FORMATS = ["standard", "cloudevents"] as const;

/** How a delivered request's body is shaped. */
export type PayloadFormat = (typeof PAYLOAD_FORMATS)[number];

/** The event fields a body carries. */
export interface BodyEvent {
  id: string;
  type: string;
  /** The event's `data` as stored: already-serialised JSON text. */
  dataJson: string;
  /** ISO-8601: `occurred_at`, else `created_at`. */
  timestamp: string;
}

/**
 * The exact body string of a delivery. `dataJson` is spliced in verbatim:
 * re-serialising could change what was signed and stored.
 *
 * @param source `EVENT_SOURCE`, used by `cloudevents` only
 * @example buildBody("standard", { id: "evt_1", type: "a.b", dataJson: "{}", timestamp: "2026-01-01T00:00:00.000Z" }, "/switchyard")
 * // '{"id":"evt_1","type":"a.b","timestamp":"2026-01-01T00:00:00.000Z","data":{}}'
 */
export function buildBody(format: PayloadFormat, event: BodyEvent, source: string): string {
  const s = JSON.stringify;
  switch (format) {
    case "standard":
      return `{"id":${s(event.id)},"type":${s(event.type)},"timestamp":${s(event.timestamp)},"data":${event.dataJson}}`;
    case "cloudevents":
      return (
        `{"specversion":"1.0","id":${s(event.id)},"source":${s(source)},"type":${s(event.type)},` +
        `"time":${s(event.timestamp)},"datacontenttype":"application/json","data":${event.dataJson}}`
      );
  }
}

/** The `content-type` header for a body format. */
export function contentType(format: PayloadFormat): string {
  return format === "cloudevents" ? "application/cloudevents+json; charset=utf-8" : "application/json";
}
