/**
 * @module Writes the Worker's OpenAPI document (the same one `/openapi.json` serves) to a
 * file, for the lint (`npm run lint:openapi`, docs/api-contract.md) and the typed client:
 * `npx tsx scripts/openapi.mts <out.json>`. The app is built in Node (no binding is touched
 * to render the document); `servers` names the origin `npm start` serves, which a deployed
 * Worker replaces with its own.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { createApp } from "../src/api/app";

const out = process.argv[2];
if (!out) throw new Error("usage: tsx scripts/openapi.mts <out.json>");
const res = await createApp().request("http://localhost:8787/openapi.json", {}, {});
if (res.status !== 200) throw new Error(`/openapi.json answered ${res.status}`);
await mkdir(dirname(out), { recursive: true });
await writeFile(out, `${JSON.stringify(await res.json(), null, 2)}\n`);
