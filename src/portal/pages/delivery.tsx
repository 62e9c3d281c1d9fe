/**
 * @module The Delivery page: the event and its payload, every attempt with its time,
 * answer, duration and response body, the request as sent (secrets redacted), and "Retry".
 */
import type { FC } from "hono/jsx";
import type { EndpointRow } from "../../db/queries/endpoints";
import type { DeliveryView } from "../../core/deliveries";
import type { AttemptRecord } from "../../domain/attempt";
import { href } from "../context";
import { Badge, Flash, PostForm, Time } from "../layout";
import { attemptError, deliveryState, httpStatus, reasonWords } from "../words";

export interface DeliveryPageProps {
  deliveryId: string;
  delivery: DeliveryView;
  event: { id: string; type: string; data: string; occurredAt: number | null; createdAt: number };
  endpoint: EndpointRow;
  attempts: AttemptRecord[];
  request: { method: string; url: string; headers: Record<string, string>; body: string };
  readOnly: boolean;
  now: number;
  notice?: string | null;
  problem?: string | null;
}

/** Stored JSON, indented for reading (as stored when it is not JSON). */
export function pretty(json: string): string {
  try {
    return JSON.stringify(JSON.parse(json), null, 2);
  } catch {
    return json;
  }
}

/** One attempt: when, how long, the answer and its body (the portal's delivery page and the console's search). */
export const Attempt: FC<{ a: AttemptRecord }> = ({ a }) => {
  const ok = a.responseStatus !== null && a.responseStatus >= 200 && a.responseStatus < 300;
  return (
    <li>
      <h3 class="item-head">
        <span>Attempt {a.n}</span>
        <Badge tone={ok ? "ok" : "bad"}>{httpStatus(a.responseStatus)}</Badge>
      </h3>
      <dl class="facts">
        <dt>Sent</dt>
        <dd>
          <Time ms={a.startedAt} />
        </dd>
        <dt>Took</dt>
        <dd>{a.durationMs} ms</dd>
        {a.error && (
          <>
            <dt>Problem</dt>
            <dd>{attemptError(a.error)}</dd>
          </>
        )}
        {a.location && (
          <>
            <dt>Redirected to</dt>
            <dd class="wrap">{a.location} (redirects are not followed)</dd>
          </>
        )}
      </dl>
      <details open={!ok}>
        <summary>Response body</summary>
        {a.responseBody ? <pre>{a.responseBody}</pre> : <p class="muted">Empty.</p>}
      </details>
    </li>
  );
};

export const DeliveryPage: FC<DeliveryPageProps> = (p) => {
  const d = p.delivery;
  const state = deliveryState(d, p.endpoint.status, p.now);
  const reason = d.status === "failed" ? reasonWords(d.reason) : null;
  const canRetry = !p.readOnly && !d.test && p.endpoint.status !== "disabled";
  return (
    <>
      <p>
        <a href={href("/endpoints", p.endpoint.id)}>← Back to the endpoint</a>
      </p>
      <h1 class="item-head">
        <span>
          Delivery of <code>{p.event.type}</code>
        </span>
        <Badge tone={state.tone}>{state.label}</Badge>
        {d.test && <Badge tone="off">Test</Badge>}
      </h1>
      <Flash notice={p.notice} problem={p.problem} />
      <section class="card" aria-labelledby="summary-heading">
        <h2 id="summary-heading">Summary</h2>
        <dl class="facts">
          <dt>Outcome</dt>
          <dd>
            {state.label}
            {reason && `: ${reason}`}
          </dd>
          <dt>Endpoint</dt>
          <dd class="wrap">
            <a href={href("/endpoints", p.endpoint.id)}>{p.endpoint.url}</a>
          </dd>
          <dt>Event</dt>
          <dd class="mono wrap">{p.event.id}</dd>
          <dt>Happened</dt>
          <dd>
            <Time ms={p.event.occurredAt ?? p.event.createdAt} />
          </dd>
          <dt>Attempts</dt>
          <dd>{d.attempts}</dd>
          <dt>Delivery</dt>
          <dd class="mono wrap">{p.deliveryId}</dd>
        </dl>
        {canRetry && (
          <PostForm action={href("/deliveries", p.deliveryId, "/retry")}>
            <div class="actions">
              <button type="submit">{d.status === "delivered" ? "Send again" : "Retry now"}</button>
            </div>
          </PostForm>
        )}
        {d.test && <p class="muted">Test sends are not retried; send a new test from the endpoint page.</p>}
        {!d.test && p.endpoint.status === "disabled" && <p class="muted">Re-enable the endpoint to retry this delivery.</p>}
      </section>
      <section class="card" aria-labelledby="payload-heading">
        <h2 id="payload-heading">Payload</h2>
        <pre>{pretty(p.event.data)}</pre>
      </section>
      <section class="card" aria-labelledby="attempts-heading">
        <h2 id="attempts-heading">Attempts</h2>
        {p.attempts.length === 0 ? (
          <p class="muted">Not sent yet.</p>
        ) : (
          <ol class="list">
            {p.attempts.map((a) => (
              <Attempt a={a} />
            ))}
          </ol>
        )}
      </section>
      <section class="card" aria-labelledby="request-heading">
        <h2 id="request-heading">Request as sent</h2>
        <p class="muted">Signatures and sign-in values are hidden.</p>
        <p class="mono wrap">
          {p.request.method} {p.request.url}
        </p>
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">Request headers</caption>
            <thead>
              <tr>
                <th scope="col">Header</th>
                <th scope="col">Value</th>
              </tr>
            </thead>
            <tbody>
              {Object.entries(p.request.headers).map(([k, v]) => (
                <tr>
                  <td class="mono">{k}</td>
                  <td class="mono wrap">{v}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <h3>Body</h3>
        <pre>{p.request.body}</pre>
      </section>
    </>
  );
};
