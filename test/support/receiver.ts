/**
 * A programmable webhook receiver on 127.0.0.1 for integration and end-to-end tests.
 * Behaviour is chosen by path so tests need no setup calls:
 *   /ok/…                   200 "ok"
 *   /status/{code}/…        that status (a 3xx carries Location: http://127.0.0.1:1/private)
 *   /fail/{n}/{key}         500 for the first n requests of key, then 200
 *   /retry-after/{s}/{key}  429 with Retry-After: s on the first request of key, then 200
 *   /slow/{ms}/…            200 after ms
 *   /hang/…                 never answers
 *   /big/…                  500 with a 10 MB body
 *   /flip/{key}             the status set by POST /_flip/{key} {"status": n} (default 200)
 * Control: GET /_log?prefix=/ok/x → recorded requests; POST /_reset.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface Recorded {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  at: number;
}

export interface Receiver {
  url: string;
  close(): Promise<void>;
}

export async function startReceiver(port = 0): Promise<Receiver> {
  let log: Recorded[] = [];
  const counters = new Map<string, number>();
  const flips = new Map<string, number>();
  const server = http.createServer((req, res) => {
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
      if (url.pathname === "/_reset") {
        log = [];
        counters.clear();
        flips.clear();
        res.end("reset");
        return;
      }
      if (parts[0] === "_flip") {
        flips.set(parts[1] ?? "", (JSON.parse(body) as { status: number }).status);
        res.end("ok");
        return;
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v.join(", ") : (v ?? "");
      log.push({ method: req.method ?? "", path: url.pathname, headers, body, at: Date.now() });
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
        case "big":
          res.writeHead(500, { "content-type": "text/plain" });
          res.end("x".repeat(10 * 1024 * 1024));
          return;
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
