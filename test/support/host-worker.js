/**
 * @module A host Worker as a platform would write one: it binds Switchyard's
 * `SwitchyardEntrypoint` as `env.SWITCHYARD` (an auxiliary worker of the integration pool,
 * vitest.config.ts) and calls it over RPC. Plain JS, not bundled, like a second Worker.
 *
 * `POST /rpc/<method>` with a JSON array of arguments calls `env.SWITCHYARD[method](...)`
 * and answers `{ result }`, or `{ thrown }` (status 500) when the call threw. Values JSON
 * cannot carry are spelled as tagged objects and built here, so a test can pass what a
 * careless host might: `{"$bigint": "9"}`, `{"$undefined": true}`, `{"$cycle": true}` (an
 * object containing itself), `{"$date": "2026-…Z"}`, `{"$deep": n}` (arrays nested n deep).
 */

function revive(value) {
  if (Array.isArray(value)) return value.map(revive);
  if (value === null || typeof value !== "object") return value;
  if ("$bigint" in value) return BigInt(value.$bigint);
  if ("$undefined" in value) return undefined;
  if ("$date" in value) return new Date(value.$date);
  if ("$cycle" in value) {
    const self = { note: "contains itself" };
    self.self = self;
    return self;
  }
  if ("$deep" in value) {
    let deep = 0;
    for (let i = 0; i < value.$deep; i++) deep = [deep];
    return deep;
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, revive(v)]));
}

export default {
  async fetch(request, env) {
    const match = new URL(request.url).pathname.match(/^\/rpc\/([A-Za-z]+)$/);
    if (!match || request.method !== "POST") return new Response("not found", { status: 404 });
    const args = revive(await request.json());
    try {
      const result = await env.SWITCHYARD[match[1]](...args);
      return Response.json({ result });
    } catch (err) {
      return Response.json({ thrown: String(err && err.stack ? err.stack : err) }, { status: 500 });
    }
  },
};
