/**
 * @module Node module hook for generating the client: `node --import ./clients/typescript/ts6-hook.mjs …`.
 *
 * hey-api builds its output with the classic TypeScript compiler API (`ts.factory`,
 * `ts.SyntaxKind`), which TypeScript 7 no longer ships, so under our `typescript@7` it
 * crashes on its first node. `@typescript/typescript6` is that API, so only `import
 * "typescript"` from hey-api's own files is sent there; everything else, our type-check
 * included, stays on TypeScript 7 (docs/client.md, "Generating").
 */
import { register } from "node:module";

register(
  `data:text/javascript,${encodeURIComponent(`
export async function resolve(specifier, context, next) {
  if (specifier === "typescript" && context.parentURL?.includes("/node_modules/@hey-api/")) {
    return next("@typescript/typescript6", context);
  }
  return next(specifier, context);
}
`)}`,
  import.meta.url,
);
