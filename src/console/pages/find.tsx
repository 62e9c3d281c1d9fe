/**
 * @module Find by id: a delivery or generated event (their ids name the tenant's log), a
 * dead letter, an endpoint or a tenant; a host-supplied event id with its tenant. Shows
 * what was found, or says plainly that nothing was.
 */
import type { FC } from "hono/jsx";
import type { DeliveryDetail, DeliveryView } from "../../core/deliveries";
import type { Found } from "../../core/cross-tenant";
import type { EndpointRow } from "../../db/queries/endpoints";
import { Badge, Time } from "../../portal/layout";
import { Attempt, pretty } from "../../portal/pages/delivery";
import { deliveryState, reasonWords } from "../../portal/words";
import { href, hrefWith } from "../context";
import { Cell, EndpointState, PortalLinkForm, TenantLink } from "./parts";

const FindForm: FC<{ q: string; tenant: string }> = ({ q, tenant }) => (
  <form method="get" action={href("/find")} role="search" aria-label="Find by id">
    <div class="filters">
      <div class="row">
        <label for="find-q">
          Id
          <span class="hint">
            A delivery (<code>dlv_…</code>), event (<code>evt_…</code>), dead letter (<code>dl_…</code>), endpoint (<code>ep_…</code>) or tenant id
          </span>
        </label>
        <input type="text" id="find-q" name="q" value={q} autocomplete="off" spellcheck={false} required />
      </div>
      <div class="row">
        <label for="find-tenant">
          Tenant id (optional)
          <span class="hint">Needed only for an event id your application chose</span>
        </label>
        <input type="text" id="find-tenant" name="tenant" value={tenant} autocomplete="off" spellcheck={false} />
      </div>
    </div>
    <div class="actions">
      <button type="submit">Find</button>
    </div>
  </form>
);

const DeliveryStatus: FC<{ d: DeliveryView; endpoint: EndpointRow; now: number }> = ({ d, endpoint, now }) => {
  const state = deliveryState(d, endpoint.status, now);
  return <Badge tone={state.tone}>{state.label}</Badge>;
};

const DeliveryResult: FC<{ tenantId: string; detail: DeliveryDetail; now: number }> = ({ tenantId, detail, now }) => {
  const { delivery: d, event, endpoint, attempts } = detail;
  return (
    <>
      <section class="card" aria-labelledby="result-heading">
        <h2 id="result-heading" class="item-head">
          <span>
            Delivery of <code>{event.type}</code>
          </span>
          <DeliveryStatus d={d} endpoint={endpoint} now={now} />
        </h2>
        <dl class="facts">
          <dt>Delivery</dt>
          <dd>
            <code>{d.id}</code>
          </dd>
          <dt>Tenant</dt>
          <dd>
            <TenantLink tenantId={tenantId} />
          </dd>
          <dt>Endpoint</dt>
          <dd>
            <span class="wrap">{endpoint.url}</span> <code class="muted">{endpoint.id}</code>
          </dd>
          <dt>Event</dt>
          <dd>
            <a href={hrefWith(href("/find"), { q: event.id, tenant: tenantId })}>
              <code>{event.id}</code>
            </a>
          </dd>
          {d.reason && (
            <>
              <dt>Why it failed</dt>
              <dd>{reasonWords(d.reason)}</dd>
            </>
          )}
          <dt>Attempts</dt>
          <dd>{d.attempts}</dd>
          <dt>Created</dt>
          <dd>
            <Time ms={d.createdAt} />
          </dd>
          <dt>Last attempt</dt>
          <dd>
            <Time ms={d.lastAttemptAt} />
          </dd>
          <dt>Next attempt</dt>
          <dd>
            <Time ms={d.nextAttemptAt} />
          </dd>
        </dl>
        <div class="actions">
          <PortalLinkForm tenantId={tenantId} compact />
        </div>
      </section>
      <section class="card" aria-labelledby="attempts-heading">
        <h2 id="attempts-heading">Attempts</h2>
        {attempts.length === 0 ? (
          <p>Not tried yet.</p>
        ) : (
          <ul class="list">
            {attempts.map((a) => (
              <Attempt a={a} />
            ))}
          </ul>
        )}
      </section>
      <section class="card" aria-labelledby="payload-heading">
        <h2 id="payload-heading">Payload</h2>
        <pre>{pretty(event.data)}</pre>
      </section>
    </>
  );
};

const EventResult: FC<{ found: Extract<Found, { kind: "event" }> }> = ({ found }) => (
  <>
    <section class="card" aria-labelledby="result-heading">
      <h2 id="result-heading">
        Event <code>{found.event.type}</code>
      </h2>
      <dl class="facts">
        <dt>Event</dt>
        <dd>
          <code>{found.event.id}</code>
        </dd>
        <dt>Tenant</dt>
        <dd>
          <TenantLink tenantId={found.tenantId} />
        </dd>
        <dt>Accepted</dt>
        <dd>
          <Time ms={found.event.createdAt} />
        </dd>
        {found.event.occurredAt !== null && (
          <>
            <dt>Occurred</dt>
            <dd>
              <Time ms={found.event.occurredAt} />
            </dd>
          </>
        )}
      </dl>
    </section>
    <section class="card" aria-labelledby="deliveries-heading">
      <h2 id="deliveries-heading">Deliveries</h2>
      {found.deliveries.length === 0 ? (
        <p>No endpoint was subscribed to this event.</p>
      ) : (
        <div class="table-wrap">
          <table class="stack">
            <thead>
              <tr>
                <th scope="col">Delivery</th>
                <th scope="col">Endpoint</th>
                <th scope="col">Status</th>
                <th scope="col" class="num">
                  Attempts
                </th>
              </tr>
            </thead>
            <tbody>
              {found.deliveries.map((d) => (
                <tr>
                  <Cell label="Delivery">
                    <a href={hrefWith(href("/find"), { q: d.id })}>
                      <code>{d.id}</code>
                    </a>
                  </Cell>
                  <Cell label="Endpoint">
                    <code>{d.endpointId}</code>
                  </Cell>
                  <Cell label="Status">
                    {d.status}
                    {d.reason && <span class="muted">{` (${reasonWords(d.reason)})`}</span>}
                  </Cell>
                  <Cell label="Attempts" class="num">
                    {d.attempts}
                  </Cell>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
    <section class="card" aria-labelledby="payload-heading">
      <h2 id="payload-heading">Payload</h2>
      <pre>{pretty(found.event.dataJson)}</pre>
    </section>
  </>
);

const EndpointResult: FC<{ endpoint: EndpointRow; now: number }> = ({ endpoint: e, now }) => (
  <section class="card" aria-labelledby="result-heading">
    <h2 id="result-heading" class="item-head">
      <span>Endpoint</span>
      <EndpointState endpoint={e} now={now} />
    </h2>
    <dl class="facts">
      <dt>Endpoint</dt>
      <dd>
        <code>{e.id}</code>
      </dd>
      <dt>URL</dt>
      <dd class="wrap">{e.url}</dd>
      <dt>Tenant</dt>
      <dd>
        <TenantLink tenantId={e.tenantId} />
      </dd>
      {e.description && (
        <>
          <dt>Description</dt>
          <dd>{e.description}</dd>
        </>
      )}
      <dt>Dead letters</dt>
      <dd>
        <a href={hrefWith(href("/dead-letters"), { endpoint: e.id })}>Show this endpoint's dead letters</a>
      </dd>
    </dl>
    <div class="actions">
      <PortalLinkForm tenantId={e.tenantId} compact />
    </div>
  </section>
);

export const FindPage: FC<{ q: string; tenant: string; found: Found | null; now: number }> = ({ q, tenant, found, now }) => (
  <>
    <h1>Find by id</h1>
    <section class="card">
      <FindForm q={q} tenant={tenant} />
    </section>
    {found?.kind === "none" && (
      <section class="card" aria-labelledby="result-heading">
        <h2 id="result-heading">Nothing found</h2>
        <p>
          No delivery, event, dead letter, endpoint or tenant has the id <code>{q}</code>
          {tenant && (
            <>
              {" "}
              (nor an event of tenant <code>{tenant}</code>)
            </>
          )}
          .
        </p>
        <p class="muted">Deliveries and events are kept for the retention period only; an event id your application chose needs its tenant id too.</p>
      </section>
    )}
    {found?.kind === "delivery" && <DeliveryResult tenantId={found.tenantId} detail={found.detail} now={now} />}
    {found?.kind === "event" && <EventResult found={found} />}
    {found?.kind === "endpoint" && <EndpointResult endpoint={found.endpoint} now={now} />}
  </>
);
