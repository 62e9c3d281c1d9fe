/**
 * @module The overview (every tenant, paged, with its last 24 hours; the sums and charts
 * across tenants; how many endpoints need attention) and one tenant's page (its figures,
 * charts, endpoints, and a portal link). Numbers come from D1's `tenant_hours`.
 */
import type { FC } from "hono/jsx";
import { successRateOf, type Totals } from "../../core/cross-tenant";
import type { AttentionState, EndpointRow } from "../../db/queries/endpoints";
import type { TenantRow } from "../../db/queries/tenants";
import type { ChartRange, HourlySeries } from "../../domain/hourly-series";
import { Time } from "../../portal/layout";
import { successRate } from "../../portal/words";
import { href, hrefWith } from "../context";
import { Cell, Charts, EndpointState, Figures, MadeLink, Pager, PortalLinkForm, TenantLink } from "./parts";

const ATTENTION_WORDS: Record<AttentionState, string> = { failing: "failing", circuit: "behind an open circuit", disabled: "disabled" };

export const OverviewPage: FC<{
  tenants: { tenant: TenantRow; last24h: Totals }[];
  all24h: Totals;
  attention: Record<AttentionState, number>;
  series: HourlySeries;
  range: ChartRange;
  nextBeforeSeq: number | null;
  onFirstPage: boolean;
}> = ({ tenants, all24h, attention, series, range, nextBeforeSeq, onFirstPage }) => (
  <>
    <h1>Tenants</h1>
    <Figures totals={all24h} label="All tenants, last 24 hours" />
    <section class="card" aria-labelledby="attention-heading">
      <h2 id="attention-heading">Endpoints needing attention</h2>
      {attention.failing + attention.circuit + attention.disabled === 0 ? (
        <p>No endpoint is failing, behind an open circuit, or disabled.</p>
      ) : (
        <ul>
          {(Object.keys(ATTENTION_WORDS) as AttentionState[]).map((state) => (
            <li>
              <a href={hrefWith(href("/endpoints"), { state })}>{`${attention[state]} ${ATTENTION_WORDS[state]}`}</a>
            </li>
          ))}
        </ul>
      )}
    </section>
    <Charts series={series} range={range} hrefFor={(r) => hrefWith(href(), { range: r })} scope="all tenants" />
    <section class="card" aria-labelledby="tenants-heading">
      <h2 id="tenants-heading">Every tenant, newest first</h2>
      {tenants.length === 0 ? (
        <p>{onFirstPage ? "No tenants yet. Create one with POST /v1/tenants." : "No more tenants."}</p>
      ) : (
        <div class="table-wrap">
          <table class="stack">
            <thead>
              <tr>
                <th scope="col">Tenant</th>
                <th scope="col" class="num">
                  Deliveries, 24 h
                </th>
                <th scope="col" class="num">
                  Delivered
                </th>
                <th scope="col" class="num">
                  Failed
                </th>
                <th scope="col" class="num">
                  Success rate
                </th>
              </tr>
            </thead>
            <tbody>
              {tenants.map(({ tenant, last24h }) => (
                <tr>
                  <Cell label="Tenant">
                    <a href={href("/tenants", tenant.id)}>{tenant.name}</a> <code class="muted">{tenant.id}</code>
                  </Cell>
                  <Cell label="Deliveries, 24 h" class="num">
                    {last24h.created}
                  </Cell>
                  <Cell label="Delivered" class="num">
                    {last24h.delivered}
                  </Cell>
                  <Cell label="Failed" class="num">
                    {last24h.failed}
                  </Cell>
                  <Cell label="Success rate" class="num">
                    {successRate(successRateOf(last24h))}
                  </Cell>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager label="More tenants" first={href()} next={nextBeforeSeq === null ? null : hrefWith(href(), { before: String(nextBeforeSeq), range })} onFirstPage={onFirstPage} />
    </section>
  </>
);

export const TenantPage: FC<{
  tenant: TenantRow;
  last24h: Totals;
  series: HourlySeries;
  range: ChartRange;
  endpoints: EndpointRow[];
  moreEndpoints: boolean;
  deadLetters: number;
  link: { url: string; expiresAt: number; readOnly: boolean } | null;
  now: number;
}> = ({ tenant, last24h, series, range, endpoints, moreEndpoints, deadLetters, link, now }) => (
  <>
    <p>
      <a href={href()}>← All tenants</a>
    </p>
    <h1>{tenant.name}</h1>
    <dl class="facts card">
      <dt>Tenant id</dt>
      <dd>
        <code>{tenant.id}</code>
      </dd>
      <dt>Created</dt>
      <dd>
        <Time ms={tenant.createdAt} />
      </dd>
      <dt>Dead letters</dt>
      <dd>
        <a href={hrefWith(href("/dead-letters"), { tenant: tenant.id })}>{deadLetters === 1 ? "1 dead letter" : `${deadLetters} dead letters`}</a>
      </dd>
    </dl>
    <Figures totals={last24h} label={`${tenant.name}, last 24 hours`} />
    <section class="card" aria-labelledby="portal-heading" id="portal">
      <h2 id="portal-heading">Tenant portal</h2>
      <p>A one-time link signs whoever opens it into this tenant's portal, for this tenant alone.</p>
      {link && <MadeLink {...link} />}
      <PortalLinkForm tenantId={tenant.id} />
    </section>
    <Charts series={series} range={range} hrefFor={(r) => hrefWith(href("/tenants", tenant.id), { range: r })} scope={`tenant ${tenant.id}`} />
    <section class="card" aria-labelledby="endpoints-heading">
      <h2 id="endpoints-heading">Endpoints</h2>
      {endpoints.length === 0 ? (
        <p>This tenant has no endpoints.</p>
      ) : (
        <ul class="list">
          {endpoints.map((e) => (
            <li id={e.id}>
              <div class="item-head">
                <span class="wrap">{e.url}</span>
                <EndpointState endpoint={e} now={now} />
              </div>
              <p class="muted">
                <code>{e.id}</code>
                {e.description && ` · ${e.description}`}
              </p>
            </li>
          ))}
        </ul>
      )}
      {moreEndpoints && <p class="muted">The first {endpoints.length} endpoints, newest first; the tenant's portal shows them all.</p>}
    </section>
  </>
);
