// The bench's webhook receiver, in its own process: answers 200 to every delivery and
// records (arrival time, webhook-id, path). Plain JS so it starts fast and stays light.
//
//   any path          200 "ok", recorded unless it starts with /_ (the routes below)
//   /hang/…           recorded on arrival (the time its request began) and never answered:
//                     a receiver that is down in the worst way (`npm run bench -- --noisy`);
//                     the sender's timeout ends it. Held sockets are closed on SIGTERM.
//   GET  /_count?prefix=P&id=I   {count, unique, duplicates, first, last} of the arrivals
//                                whose path starts with P and webhook-id with I
//   GET  /_dump?prefix=P&id=I    [[t_ms, webhook_id, path], …]   (t_ms: wall clock, sub-ms)
//   POST /_reset            forget everything
//
// Prints its port as the first line of stdout: `listening <port>`.
import http from "node:http";

const now = () => performance.timeOrigin + performance.now();
let arrivals = []; // [t, id, path]

function matching(prefix, idPrefix) {
  return arrivals.filter((a) => (!prefix || a[2].startsWith(prefix)) && (!idPrefix || a[1].startsWith(idPrefix)));
}

const server = http.createServer((req, res) => {
  const url = req.url ?? "/";
  if (url.startsWith("/_")) {
    const u = new URL(url, "http://x");
    const prefix = u.searchParams.get("prefix") ?? "";
    const idPrefix = u.searchParams.get("id") ?? "";
    req.resume();
    req.on("end", () => {
      if (u.pathname === "/_count") {
        const list = matching(prefix, idPrefix);
        const seen = new Set();
        let duplicates = 0;
        let first = Infinity;
        let last = -Infinity;
        for (const [t, id, path] of list) {
          const k = `${id} ${path}`;
          if (seen.has(k)) duplicates++;
          else seen.add(k);
          if (t < first) first = t;
          if (t > last) last = t;
        }
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ count: list.length, unique: seen.size, duplicates, first: list.length ? first : null, last: list.length ? last : null }));
      } else if (u.pathname === "/_dump") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(matching(prefix, idPrefix)));
      } else if (u.pathname === "/_reset") {
        arrivals = [];
        res.end("reset");
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    return;
  }
  const t = now();
  const id = req.headers["webhook-id"] ?? "";
  if (url.startsWith("/hang/")) {
    req.resume();
    req.on("end", () => arrivals.push([t, Array.isArray(id) ? id[0] : id, url]));
    return; // no answer, ever
  }
  req.resume(); // read the body, as a real receiver would
  req.on("end", () => {
    arrivals.push([t, Array.isArray(id) ? id[0] : id, url]);
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("ok");
  });
});
server.keepAliveTimeout = 60_000;
server.headersTimeout = 65_000;
server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
process.on("SIGTERM", () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
