/**
 * @module Date checks shared by the API's query strings and event ingest.
 */

/**
 * Whether a string starting `YYYY-MM-DD` names a real calendar day: `Date.parse` rolls
 * `2026-02-30` over into March instead of refusing it.
 */
export function isCalendarDate(s: string): boolean {
  const [y = 0, m = 0, d = 0] = s.slice(0, 10).split("-").map(Number);
  return m >= 1 && m <= 12 && d >= 1 && d <= new Date(Date.UTC(y, m, 0)).getUTCDate();
}
