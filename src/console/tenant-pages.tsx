/**
 * @module The console's tenant routes: the overview of every tenant, one tenant's page, its
 * portal magic link, and the endpoints needing attention across tenants.
 */
import type { Hono } from "hono";
import { attentionCounts, chartSeries, deadLetterCount, endpointsNeedingAttention, tenantFigures, tenantsWithFigures } from "../core/cross-tenant";
import { listEndpoints } from "../core/endpoints";
import { getTenant } from "../core/tenants";
import type { AttentionState } from "../db/queries/endpoints";
import { parseChartRange } from "../domain/hourly-series";
import { field } from "../portal/forms";
import { createPortalLink, portalLoginUrl, PORTAL_LINK_DEFAULT_S } from "../core/portal-sessions";
import type { ConsoleContext, ConsoleEnv } from "./context";
import { AttentionPage } from "./pages/attention";
import { LINK_LIFETIMES } from "./pages/parts";
import { OverviewPage, TenantPage } from "./pages/tenants";

const TENANTS_PER_PAGE = 50;
const ENDPOINTS_PER_PAGE = 50;
const ATTENTION_STATES: readonly AttentionState[] = ["failing", "circuit", "disabled"];

/** A positive integer from the query, or undefined. */
function positiveInt(value: string | undefined): number | undefined {
  return value && /^[1-9]\d{0,15}$/.test(value) ? Number(value) : undefined;
}

async function showTenant(c: ConsoleContext, tenantId: string, link: { url: string; expiresAt: number; readOnly: boolean } | null) {
  const deps = c.var.deps;
  const tenant = await getTenant(deps, tenantId);
  const range = parseChartRange(c.req.query("range"));
  const [last24h, series, endpoints, deadLetters] = await Promise.all([
    tenantFigures(deps, tenant.seq),
    chartSeries(deps, range, tenant.seq),
    listEndpoints(deps, tenant.id, { limit: ENDPOINTS_PER_PAGE }),
    deadLetterCount(deps, tenant.id),
  ]);
  return c.render(
    <TenantPage
      tenant={tenant}
      last24h={last24h}
      series={series}
      range={range}
      endpoints={endpoints.slice(0, ENDPOINTS_PER_PAGE)}
      moreEndpoints={endpoints.length > ENDPOINTS_PER_PAGE}
      deadLetters={deadLetters}
      link={link}
      now={deps.now}
    />,
    { title: tenant.name },
  );
}

export function registerTenantPages(app: Hono<ConsoleEnv>): void {
  app.get("/", async (c) => {
    const deps = c.var.deps;
    const beforeSeq = positiveInt(c.req.query("before"));
    const range = parseChartRange(c.req.query("range"));
    const [page, attention, series] = await Promise.all([
      tenantsWithFigures(deps, { limit: TENANTS_PER_PAGE, beforeSeq }),
      attentionCounts(deps),
      chartSeries(deps, range),
    ]);
    return c.render(
      <OverviewPage
        tenants={page.tenants}
        all24h={page.all24h}
        attention={attention}
        series={series}
        range={range}
        nextBeforeSeq={page.nextBeforeSeq}
        onFirstPage={beforeSeq === undefined}
      />,
      { title: "Tenants" },
    );
  });

  app.get("/tenants/:tid", (c) => showTenant(c, c.req.param("tid"), null));

  // A link is a credential: made only by a POST (CSRF-checked), shown once, never stored in clear.
  app.post("/tenants/:tid/portal-link", async (c) => {
    const form = c.var.form;
    const asked = Number(field(form, "expires_in"));
    const expiresIn = LINK_LIFETIMES.find((l) => l.seconds === asked)?.seconds ?? PORTAL_LINK_DEFAULT_S;
    const readOnly = field(form, "read_only") === "1";
    const { token, expiresAt } = await createPortalLink(c.var.deps, c.req.param("tid"), { expiresIn, readOnly });
    const url = portalLoginUrl(c.req.url, token);
    if (field(form, "open") === "1") return c.redirect(url, 303);
    return showTenant(c, c.req.param("tid"), { url, expiresAt, readOnly });
  });

  app.get("/endpoints", async (c) => {
    const deps = c.var.deps;
    const asked = c.req.query("state");
    const state = ATTENTION_STATES.find((s) => s === asked);
    const beforeId = c.req.query("before") || undefined;
    const page = await endpointsNeedingAttention(deps, { state, beforeId, limit: ENDPOINTS_PER_PAGE });
    return c.render(
      <AttentionPage endpoints={page.endpoints} counts={page.counts} state={state} nextBeforeId={page.nextBeforeId} onFirstPage={beforeId === undefined} now={deps.now} />,
      { title: "Endpoints needing attention" },
    );
  });
}
