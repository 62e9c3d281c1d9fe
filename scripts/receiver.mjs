// A local webhook receiver for the README walkthrough: verifies each request with the
// public `standardwebhooks` package and prints what arrived.
//   WEBHOOK_SECRET=whsec_... npm run receiver        (listens on 127.0.0.1:9000)
import http from "node:http";
import { Webhook } from "standardwebhooks";

const secret = process.env.WEBHOOK_SECRET;
const port = Number(process.env.PORT ?? 9000);
if (!secret) {
  console.error("Set WEBHOOK_SECRET to the endpoint's secret (shown when you created it).");
  process.exit(1);
}
const wh = new Webhook(secret);

http
  .createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      try {
        const payload = wh.verify(body, req.headers);
        console.log(`verified ${req.headers["webhook-id"]} attempt ${req.headers["webhook-attempt"]}:`, JSON.stringify(payload));
        res.writeHead(200).end("ok");
      } catch (err) {
        console.log("signature NOT valid:", err.message);
        res.writeHead(400).end("bad signature");
      }
    });
  })
  .listen(port, "127.0.0.1", () => console.log(`receiver listening on http://127.0.0.1:${port}`));
