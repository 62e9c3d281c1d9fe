/**
 * @module Pieces several console pages share: the 24-hour figures, the charts with their
 * range switch, an endpoint's attention badges, a tenant link, a pager, and the portal
 * magic-link form.
 */
import type { Child, FC } from "hono/jsx";
import { circuitStateOf } from "../../core/endpoints";
import { successRateOf, type Totals } from "../../core/cross-tenant";
import type { EndpointRow } from "../../db/queries/endpoints";
import type { ChartRange, HourlySeries } from "../../domain/hourly-series";
import { Badge, PostForm, Time } from "../../portal/layout";
import { CIRCUIT_BADGE, ENDPOINT_STATUS, successRate } from "../../portal/words";
import { LatencyChart, RangeSwitch, VolumeChart } from "../../ui/charts";
import { href } from "../context";

/** Deliveries, delivered, failed and success rate over the last 24 hours. */
export const Figures: FC<{ totals: Totals; label: string }> = ({ totals, label }) => (
  <>
  <h2 class="visually-hidden">{label}</h2>
  <dl class="figures">
    <div>
      <dt>Deliveries, last 24 h</dt>
      <dd>{totals.created}</dd>
    </div>
    <div>
      <dt>Delivered</dt>
      <dd>{totals.delivered}</dd>
    </div>
    <div>
      <dt>Failed</dt>
      <dd>{totals.failed}</dd>
    </div>
    <div>
      <dt>Success rate</dt>
      <dd>{successRate(successRateOf(totals))}</dd>
    </div>
  </dl>
  </>
);

/** Deliveries and latency over the chosen range, with links to the other range. */
export const Charts: FC<{ series: HourlySeries; range: ChartRange; hrefFor: (r: ChartRange) => string; scope: string }> = ({ series, range, hrefFor, scope }) => (
  <section class="card" aria-labelledby="charts-heading">
    <h2 id="charts-heading">{`Deliveries and latency, ${scope}`}</h2>
    <RangeSwitch current={range} hrefFor={hrefFor} />
    <div class="charts">
      <VolumeChart series={series} title="Deliveries" />
      <LatencyChart series={series} title="Latency" />
    </div>
  </section>
);

/** Why an endpoint needs attention, as badges (a healthy one shows its status alone). */
export const EndpointState: FC<{ endpoint: EndpointRow; now: number }> = ({ endpoint: e, now }) => {
  const circuit = e.status === "disabled" ? null : CIRCUIT_BADGE[circuitStateOf(e, now)];
  return (
    <>
      <Badge tone={ENDPOINT_STATUS[e.status].tone}>{ENDPOINT_STATUS[e.status].label}</Badge>
      {e.failingSince !== null && e.status !== "disabled" && <Badge tone="bad">Failing</Badge>}
      {circuit && <Badge tone={circuit.tone}>{circuit.label}</Badge>}
      {e.failingSince !== null && (
        <span class="muted">
          {" failing since "}
          <Time ms={e.failingSince} />
        </span>
      )}
      {e.disabledReason && <span class="muted">{` (${e.disabledReason})`}</span>}
    </>
  );
};

export const TenantLink: FC<{ tenantId: string }> = ({ tenantId }) => (
  <a href={href("/tenants", tenantId)}>
    <code>{tenantId}</code>
  </a>
);

/** "Back to the first page" and "More …" links, when there is more than one page. */
export const Pager: FC<{ label: string; first: string; next: string | null; onFirstPage: boolean }> = ({ label, first, next, onFirstPage }) =>
  next || !onFirstPage ? (
    <nav class="pager" aria-label={label}>
      {!onFirstPage && <a href={first}>Back to the first page</a>}
      {next && <a href={next}>{label}</a>}
    </nav>
  ) : null;

/** Link lifetimes offered (seconds, within the API's 60..86 400). */
export const LINK_LIFETIMES: { seconds: number; label: string }[] = [
  { seconds: 900, label: "15 minutes" },
  { seconds: 3600, label: "1 hour" },
  { seconds: 28_800, label: "8 hours" },
  { seconds: 86_400, label: "24 hours" },
];

/**
 * The form that makes a one-time portal link for a tenant: shown to copy, or opened at once
 * ("Open the portal"), which signs this browser into the tenant's portal.
 */
export const PortalLinkForm: FC<{ tenantId: string; compact?: boolean; idSuffix?: string }> = ({ tenantId, compact, idSuffix = "" }) => {
  const action = href("/tenants", tenantId, "/portal-link");
  if (compact) {
    return (
      <PostForm action={action} class="inline-form" aria-label={`Portal of ${tenantId}`}>
        <input type="hidden" name="open" value="1" />
        <button type="submit" class="secondary">
          Open portal<span class="visually-hidden">{` of ${tenantId}`}</span>
        </button>
      </PostForm>
    );
  }
  return (
    <PostForm action={action} aria-label="Portal link">
      <div class="grid">
        <div class="row">
          <label for={`expires_in${idSuffix}`}>Link and session last</label>
          <select id={`expires_in${idSuffix}`} name="expires_in">
            {LINK_LIFETIMES.map((l) => (
              <option value={String(l.seconds)} selected={l.seconds === 3600}>
                {l.label}
              </option>
            ))}
          </select>
        </div>
        <div class="row">
          <label class="check">
            <input type="checkbox" name="read_only" value="1" /> View only (sees everything, changes nothing)
          </label>
        </div>
      </div>
      <div class="actions">
        <button type="submit">Make a link to share</button>
        <button type="submit" name="open" value="1" class="secondary">
          Open the portal now
        </button>
      </div>
    </PostForm>
  );
};

/** A one-time link just made, to copy (the page script shows the Copy button). */
export const MadeLink: FC<{ url: string; expiresAt: number; readOnly: boolean }> = ({ url, expiresAt, readOnly }) => (
  <div class="notice" role="status">
    <p>
      {readOnly ? "A view-only link" : "A link"} that works once, until <Time ms={expiresAt} />:
    </p>
    <div class="link-out">
      <code id="portal-link">{url}</code>
      <button type="button" class="secondary" data-copy="portal-link" hidden>
        Copy
      </button>
      <a class="button secondary" href={url} target="_blank" rel="noopener noreferrer">
        Open<span class="visually-hidden"> the link in a new tab</span>
      </a>
    </div>
  </div>
);

/** A table cell that names its column at phone width, where the table is stacked. */
export const Cell: FC<{ label: string; class?: string; children?: Child }> = ({ label, children, ...rest }) => (
  <td data-label={label} {...rest}>
    {children}
  </td>
);
