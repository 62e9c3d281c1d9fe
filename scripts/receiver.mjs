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
    // Bytes first, decoded once: a multi-byte character split across two chunks would be
    // garbled if each chunk were decoded alone, and the signature would not verify.
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
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
