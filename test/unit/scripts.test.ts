/**
 * The README's two helper scripts: `npm start`'s port argument and the verifying receiver
 * (`npm run receiver`), run as a user would run them.
 */
import { spawn } from "node:child_process";
import { request } from "node:http";
import { afterAll, describe, expect, it } from "vitest";
import { Webhook } from "standardwebhooks";
// @ts-expect-error a plain .mjs script without types
import { wranglerDevArgs } from "../../scripts/dev-args.mjs";

describe("npm start", () => {
  it("serves on 8787 unless a port is given (`npm start -- --port 8791`: wrangler refuses two)", () => {
    expect(wranglerDevArgs([])).toEqual(["wrangler", "dev", "--port", "8787"]);
    expect(wranglerDevArgs(["--port", "8791"])).toEqual(["wrangler", "dev", "--port", "8791"]);
    expect(wranglerDevArgs(["--port=8791"])).toEqual(["wrangler", "dev", "--port=8791"]);
    expect(wranglerDevArgs(["--ip", "0.0.0.0"])).toEqual(["wrangler", "dev", "--port", "8787", "--ip", "0.0.0.0"]);
  });
});

describe("npm run receiver", () => {
  const secret = "whsec_" + Buffer.from("a-32-byte-secret-for-the-tests!!").toString("base64");
  const port = 9000 + Math.floor(Math.random() * 900) + 50;
  // Its own process group, stopped by its pid.
  const child = spawn(process.execPath, ["scripts/receiver.mjs"], { env: { ...process.env, WEBHOOK_SECRET: secret, PORT: String(port) }, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const ready = new Promise<void>((resolve) => child.stdout!.on("data", (d: Buffer) => d.toString().includes("listening") && resolve()));
  afterAll(() => {
    if (child.pid) process.kill(-child.pid, "SIGTERM");
  });

  it("verifies a 135 KB body of multi-byte text sent in small chunks (split characters included)", async () => {
    await ready;
    const body = JSON.stringify({ id: "evt_multi", type: "t.x", timestamp: new Date().toISOString(), data: { text: "żółć 😀 ".repeat(12_000) } });
    const bytes = Buffer.from(body, "utf8");
    expect(bytes.length).toBeGreaterThan(135_000);
    const timestamp = new Date();
    const signature = new Webhook(secret).sign("evt_multi", timestamp, body);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, method: "POST", path: "/webhooks", headers: { "content-type": "application/json", "webhook-id": "evt_multi", "webhook-timestamp": String(Math.floor(timestamp.getTime() / 1000)), "webhook-signature": signature, "content-length": bytes.length } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on("error", reject);
      // 1 001-byte chunks: most boundaries fall inside a multi-byte character.
      for (let i = 0; i < bytes.length; i += 1001) req.write(bytes.subarray(i, i + 1001));
      req.end();
    });
    expect(status).toBe(200);
  });
});
