/**
 * @module The one outbound request: no redirects, a timeout that starts with the
 * request, and at most 4 KiB of the response read (the rest is cancelled).
 */
import type { AttemptResult } from "../domain/outcome";
import { parseRetryAfter } from "../domain/retry-schedule";

export const MAX_RESPONSE_BYTES = 4096;
/**
 * A 2xx keeps only its first 256 bytes (DESIGN "Storage and retention"). Capped here, in
 * bytes and before decoding: slicing the decoded string counted UTF-16 code units, so a
 * multi-byte answer kept up to 768 bytes, and test sends kept 4 KiB of a 2xx.
 */
export const MAX_SUCCESS_RESPONSE_BYTES = 256;

export interface OutboundRequest {
  url: string;
  method: "POST" | "PUT";
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
}

export interface OutboundResult {
  startedAt: number;
  durationMs: number;
  result: AttemptResult;
  /** The first 4 KiB of the response body, decoded leniently (invalid UTF-8 becomes U+FFFD). */
  responseBody: string | null;
}

async function readCapped(body: ReadableStream<Uint8Array> | null, max: number): Promise<string | null> {
  if (!body) return null;
  const reader = body.getReader();
  const buf = new Uint8Array(max);
  let size = 0;
  try {
    while (size < max) {
      const { done, value } = await reader.read();
      if (done) break;
      const take = Math.min(value.byteLength, max - size);
      buf.set(value.subarray(0, take), size);
      size += take;
    }
  } finally {
    // Never read a huge body to its end: memory stays bounded and the connection is freed.
    reader.cancel().catch(() => {});
  }
  return new TextDecoder("utf-8").decode(buf.subarray(0, size));
}

/** Sends one attempt. Never throws: network failures come back as `{kind: "error"}`. */
export async function sendRequest(req: OutboundRequest): Promise<OutboundResult> {
  const startedAt = Date.now();
  // Created here, when the request starts, not when the batch began (DESIGN: platform facts).
  const signal = AbortSignal.timeout(req.timeoutMs);
  try {
    const res = await fetch(req.url, { method: req.method, headers: req.headers, body: req.body, redirect: "manual", signal });
    let responseBody: string | null;
    try {
      responseBody = await readCapped(res.body, res.status >= 200 && res.status <= 299 ? MAX_SUCCESS_RESPONSE_BYTES : MAX_RESPONSE_BYTES);
    } catch (err) {
      if (signal.aborted) return { startedAt, durationMs: Date.now() - startedAt, result: { kind: "error", error: "timeout" }, responseBody: null };
      return { startedAt, durationMs: Date.now() - startedAt, result: { kind: "error", error: `connection: ${(err as Error).message}` }, responseBody: null };
    }
    return {
      startedAt,
      durationMs: Date.now() - startedAt,
      result: {
        kind: "response",
        status: res.status,
        location: res.headers.get("location"),
        retryAfterSeconds: parseRetryAfter(res.headers.get("retry-after"), Date.now()),
      },
      responseBody,
    };
  } catch (err) {
    const timedOut = signal.aborted || (err as Error).name === "TimeoutError" || (err as Error).name === "AbortError";
    return {
      startedAt,
      durationMs: Date.now() - startedAt,
      result: { kind: "error", error: timedOut ? "timeout" : `connection: ${(err as Error).message}` },
      responseBody: null,
    };
  }
}
