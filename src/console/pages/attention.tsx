/**
 * @module Endpoints needing attention across tenants: failing (`failing_since` set), behind
 * an open circuit, or disabled — read from D1's endpoint rows, each linked to its tenant and
 * to a portal link.
 */
import type { FC } from "hono/jsx";
import type { AttentionState, EndpointRow } from "../../db/queries/endpoints";
import { href, hrefWith } from "../context";
import { Cell, EndpointState, Pager, PortalLinkForm, TenantLink } from "./parts";

const FILTERS: { state: AttentionState | undefined; label: string }[] = [
  { state: undefined, label: "All" },
  { state: "failing", label: "Failing" },
  { state: "circuit", label: "Circuit open" },
  { state: "disabled", label: "Disabled" },
];

export const AttentionPage: FC<{
  endpoints: EndpointRow[];
  counts: Record<AttentionState, number>;
  state: AttentionState | undefined;
  nextBeforeId: string | null;
  onFirstPage: boolean;
  now: number;
}> = ({ endpoints, counts, state, nextBeforeId, onFirstPage, now }) => {
  const first = hrefWith(href("/endpoints"), { state });
  return (
    <>
      <h1>Endpoints needing attention</h1>
      <nav aria-label="Which endpoints">
        <ul class="actions">
          {FILTERS.map((f) => (
            <li class="inline-form">
              <a href={hrefWith(href("/endpoints"), { state: f.state })} aria-current={f.state === state ? "page" : undefined}>
                {f.state ? `${f.label} (${counts[f.state]})` : f.label}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <section class="card" aria-label="Endpoints">
        {endpoints.length === 0 ? (
          <p>{onFirstPage ? "Nothing needs attention here: no endpoint is in this state." : "No more endpoints."}</p>
        ) : (
          <div class="table-wrap">
            <table class="stack">
              <thead>
                <tr>
                  <th scope="col">Endpoint</th>
                  <th scope="col">Tenant</th>
                  <th scope="col">State</th>
                  <th scope="col">Portal</th>
                </tr>
              </thead>
              <tbody>
                {endpoints.map((e) => (
                  <tr>
                    <Cell label="Endpoint">
                      <a class="wrap" href={`${href("/tenants", e.tenantId)}#${encodeURIComponent(e.id)}`}>
                        {e.url}
                      </a>
                      <br />
                      <code class="muted">{e.id}</code>
                    </Cell>
                    <Cell label="Tenant">
                      <TenantLink tenantId={e.tenantId} />
                    </Cell>
                    <Cell label="State">
                      <EndpointState endpoint={e} now={now} />
                    </Cell>
                    <Cell label="Portal">
                      <PortalLinkForm tenantId={e.tenantId} compact />
                    </Cell>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <Pager label="More endpoints" first={first} next={nextBeforeId === null ? null : hrefWith(href("/endpoints"), { state, before: nextBeforeId })} onFirstPage={onFirstPage} />
      </section>
    </>
  );
};
