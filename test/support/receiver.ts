/**
 * A programmable webhook receiver on 127.0.0.1 for integration and end-to-end tests.
 * Behaviour is chosen by path so tests need no setup calls:
 *   /ok/…                   200 "ok"
 *   /status/{code}/…        that status (a 3xx carries Location: http://127.0.0.1:1/private)
 *   /fail/{n}/{key}         500 for the first n requests of key, then 200
 *   /retry-after/{s}/{key}  429 with Retry-After: s on the first request of key, then 200
 *   /slow/{ms}/…            200 after ms
 *   /hang/…                 never answers
 *   /hold/{key}             never answers until POST /_release/{key}, then 200 (a receiver that
 *                           hangs and then recovers; requests held before the release stay unanswered)
 *   /big/…                  500 with a 10 MB body
 *   /flip/{key}             the status set by POST /_flip/{key} {"status": n} (default 200)
 *   /fail-each/{n}/{key}    500 for the first n requests of each distinct webhook-id, then 200
 *   /fail-by-data/{key}     500 for the first `data.fail_times` requests of each webhook-id
 *                           (read from the JSON body's `data`, 0 when absent), then 200
 *   /close/{n}/{key}        first n requests of key: 200 headers (content-length 1000) and 5 bytes,
 *                           then the socket is destroyed mid-response; then 200
 *   /reset/{n}/{key}        first n requests of key: the connection is reset (TCP RST) before any
 *                           answer; then 200
 *   /redirect/{code}/{key}  that 3xx with Location: this receiver's /redirect-target/{key} (a
 *                           private address; a request there would show up in the log)
 *   /binary/{status}/…      that status with a body that is not UTF-8 (0xff 0xfe, a bad
 *                           continuation, a lone continuation byte) between ASCII
 *   /utf8/{status}/…        that status with "é" × 3000 (6000 bytes of two-byte UTF-8)
 * Control: GET /_log?prefix=/ok/x → recorded requests; POST /_reset; POST /_release/{key}.
 *          GET /_counts?prefix=/x → {path: {webhook-id: requests}} (no bodies).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface Recorded {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  at: number;
  /** When the request's headers arrived (before its body was read). */
  startAt: number;
}

export interface Receiver {
  url: string;
  close(): Promise<void>;
}

export async function startReceiver(port = 0): Promise<Receiver> {
  let log: Recorded[] = [];
  const counters = new Map<string, number>();
  const flips = new Map<string, number>();
  const released = new Set<string>();
  const server = http.createServer((req, res) => {
    const startAt = Date.now();
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://x");
      const body = Buffer.concat(chunks).toString("utf8");
      const parts = url.pathname.split("/").filter(Boolean);
      if (url.pathname === "/_log") {
        const prefix = url.searchParams.get("prefix") ?? "";
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(log.filter((r) => r.path.startsWith(prefix))));
        return;
      }
      if (url.pathname === "/_counts") {
        // Requests per path and webhook-id, without bodies (the load test's accounting).
        const prefix = url.searchParams.get("prefix") ?? "";
        const counts: Record<string, Record<string, number>> = {};
        for (const r of log) {
          if (!r.path.startsWith(prefix)) continue;
          const byId = (counts[r.path] ??= {});
          const id = r.headers["webhook-id"] ?? "";
          byId[id] = (byId[id] ?? 0) + 1;
        }
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(counts));
        return;
      }
      if (url.pathname === "/_reset") {
        log = [];
        counters.clear();
        flips.clear();
        released.clear();
        res.end("reset");
        return;
      }
      if (parts[0] === "_release") {
        released.add(parts[1] ?? "");
        res.end("ok");
        return;
      }
      if (parts[0] === "_flip") {
        flips.set(parts[1] ?? "", (JSON.parse(body) as { status: number }).status);
        res.end("ok");
        return;
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v.join(", ") : (v ?? "");
      log.push({ method: req.method ?? "", path: url.pathname, headers, body, at: Date.now(), startAt });
      const count = (key: string) => {
        const n = (counters.get(key) ?? 0) + 1;
        counters.set(key, n);
        return n;
      };
      switch (parts[0]) {
        case "status": {
          const code = Number(parts[1]);
          res.writeHead(code, code >= 300 && code < 400 ? { location: "http://127.0.0.1:1/private" } : {});
          res.end(`status ${code}`);
          return;
        }
        case "fail": {
          const n = count(url.pathname);
          res.writeHead(n <= Number(parts[1]) ? 500 : 200);
          res.end(n <= Number(parts[1]) ? "failing" : "ok");
          return;
        }
        case "retry-after": {
          if (count(url.pathname) === 1) {
            res.writeHead(429, { "retry-after": parts[1] ?? "1" });
            res.end("slow down");
          } else res.end("ok");
          return;
        }
        case "slow":
          setTimeout(() => res.end("ok"), Number(parts[1]));
          return;
        case "hang":
          return;
        case "hold":
          if (released.has(parts[1] ?? "")) res.end("ok");
          return;
        case "big":
          res.writeHead(500, { "content-type": "text/plain" });
          res.end("x".repeat(10 * 1024 * 1024));
          return;
        case "fail-each": {
          const n = count(`${url.pathname}#${headers["webhook-id"] ?? ""}`);
          const fail = n <= Number(parts[1]);
          res.writeHead(fail ? 500 : 200);
          res.end(fail ? "failing" : "ok");
          return;
        }
        case "fail-by-data": {
          let times = 0;
          try {
            const data = (JSON.parse(body) as { data?: { fail_times?: unknown } }).data;
            if (typeof data?.fail_times === "number") times = data.fail_times;
          } catch {
            // not JSON: no failures asked for
          }
          const fail = count(`${url.pathname}#${headers["webhook-id"] ?? ""}`) <= times;
          res.writeHead(fail ? 500 : 200);
          res.end(fail ? "failing" : "ok");
          return;
        }
        case "close": {
          if (count(url.pathname) <= Number(parts[1])) {
            res.writeHead(200, { "content-length": "1000" });
            res.write("parti");
            // Give the headers and the first bytes time to leave, then cut the connection.
            setTimeout(() => req.socket.destroy(), 50);
          } else res.end("ok");
          return;
        }
        case "reset": {
          if (count(url.pathname) <= Number(parts[1])) req.socket.resetAndDestroy();
          else res.end("ok");
          return;
        }
        case "redirect": {
          const { port } = server.address() as AddressInfo;
          res.writeHead(Number(parts[1]), { location: `http://127.0.0.1:${port}/redirect-target/${parts[2] ?? ""}` });
          res.end("moved");
          return;
        }
        case "binary": {
          res.writeHead(Number(parts[1]), { "content-type": "text/plain" });
          res.end(Buffer.from([0x61, 0xff, 0xfe, 0x62, 0xc3, 0x28, 0x63, 0x80, 0x64]));
          return;
        }
        case "utf8": {
          res.writeHead(Number(parts[1]), { "content-type": "text/plain; charset=utf-8" });
          res.end("é".repeat(3000));
          return;
        }
        case "flip": {
          const status = flips.get(parts[1] ?? "") ?? 200;
          res.writeHead(status);
          res.end(`flip ${status}`);
          return;
        }
        default:
          res.end("ok");
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
