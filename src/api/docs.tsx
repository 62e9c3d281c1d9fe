/**
 * @module GET /docs: a browsable API reference rendered from the OpenAPI document, with
 * no script or CDN (it works offline and under a strict CSP).
 */
import type { FC } from "hono/jsx";

type Doc = { paths?: Record<string, Record<string, Operation | undefined> | undefined>; info: { title: string; description?: string } };
type Operation = {
  summary?: string;
  tags?: string[];
  parameters?: { name: string; in: string; required?: boolean; schema?: unknown }[];
  requestBody?: { content?: Record<string, { schema?: unknown }> };
  responses?: Record<string, { description?: string }>;
};

const METHODS = ["get", "post", "put", "patch", "delete"] as const;

const Page: FC<{ doc: Doc }> = ({ doc }) => {
  const ops = Object.entries(doc.paths ?? {}).flatMap(([path, item]) =>
    METHODS.flatMap((m) => (item?.[m] ? [{ path, method: m, op: item[m]! }] : [])),
  );
  const tags = [...new Set(ops.map((o) => o.op.tags?.[0] ?? "Other"))];
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{doc.info.title} API reference</title>
        <style>{`body{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2rem auto;padding:0 1rem;color:#1d2433}
code,pre{font-family:ui-monospace,monospace;font-size:13px}pre{background:#f4f5f7;padding:.75rem;overflow:auto;border-radius:6px}
details{border:1px solid #dde1e7;border-radius:6px;margin:.5rem 0;padding:.5rem .75rem}summary{cursor:pointer}
.m{display:inline-block;min-width:4.5rem;font-weight:700;text-transform:uppercase}.get{color:#0a6}.post{color:#06c}.patch{color:#a60}.delete{color:#c22}`}</style>
      </head>
      <body>
        <h1>{doc.info.title} API reference</h1>
        <p>{doc.info.description}</p>
        <p>
          Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1). Authenticate with <code>Authorization: Bearer &lt;token&gt;</code>.
        </p>
        {tags.map((tag) => (
          <section>
            <h2>{tag}</h2>
            {ops
              .filter((o) => (o.op.tags?.[0] ?? "Other") === tag)
              .map(({ path, method, op }) => (
                <details>
                  <summary>
                    <span class={`m ${method}`}>{method}</span> <code>{path}</code> — {op.summary}
                  </summary>
                  {op.parameters?.length ? (
                    <>
                      <h4>Parameters</h4>
                      <ul>
                        {op.parameters.map((p) => (
                          <li>
                            <code>{p.name}</code> ({p.in}
                            {p.required ? ", required" : ""})
                          </li>
                        ))}
                      </ul>
                    </>
                  ) : null}
                  {op.requestBody?.content?.["application/json"]?.schema ? (
                    <>
                      <h4>Body</h4>
                      <pre>{JSON.stringify(op.requestBody.content["application/json"].schema, null, 2)}</pre>
                    </>
                  ) : null}
                  <h4>Responses</h4>
                  <ul>
                    {Object.entries(op.responses ?? {}).map(([code, r]) => (
                      <li>
                        <code>{code}</code> {r.description}
                      </li>
                    ))}
                  </ul>
                </details>
              ))}
          </section>
        ))}
      </body>
    </html>
  );
};

export function renderDocs(doc: unknown) {
  return "<!doctype html>" + (<Page doc={doc as Doc} />).toString();
}
