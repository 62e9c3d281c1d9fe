/**
 * @module What one delivery attempt sends and keeps: the event as a request body is built
 * from it, and the attempt as the log stores it (DESIGN.md "Storage and retention").
 */

/** The event fields a delivered request is built from. */
export interface DeliveryEvent {
  seq: number;
  id: string;
  type: string;
  /** The JSON text of `data`, exactly as accepted. */
  data: string;
  occurredAt: number | null;
  createdAt: number;
}

/** One attempt as the log keeps it: the request as sent (secrets redacted) and what came back. */
export interface AttemptRecord {
  n: number;
  startedAt: number;
  durationMs: number;
  responseStatus: number | null;
  responseBody: string | null;
  error: string | null;
  location: string | null;
  requestMethod: string;
  requestUrl: string;
  requestHeaders: Record<string, string>;
}
