/**
 * @module The delivery page's routes (one delivery, "Retry") and the event catalog.
 */
import type { Hono } from "hono";
import * as deliveries from "../core/deliveries";
import { AppError } from "../errors";
import { bodyFor } from "../outbound/request";
import { href, sessionOf, type PortalContext, type PortalEnv } from "./context";
import { catalogFor } from "./endpoint-pages";
import { CatalogPage } from "./pages/catalog";
import { DeliveryPage } from "./pages/delivery";

async function showDelivery(c: PortalContext, deliveryId: string, extra: { notice?: string | null; problem?: string | null } = {}) {
  const { tenantId, readOnly } = sessionOf(c);
  const deps = c.var.deps;
  const found = await deliveries.getDelivery(deps, tenantId, deliveryId);
  const last = found.attempts[found.attempts.length - 1];
  const request = {
    method: last?.requestMethod ?? found.endpoint.method,
    url: last?.requestUrl ?? found.endpoint.url,
    headers: last?.requestHeaders ?? {},
    body: bodyFor(deps.config, found.endpoint, found.event),
  };
  return c.render(
    <DeliveryPage
      deliveryId={deliveryId}
      delivery={found.delivery}
      event={found.event}
      endpoint={found.endpoint}
      attempts={found.attempts}
      request={request}
      readOnly={readOnly}
      now={deps.now}
      notice={extra.notice ?? (c.req.query("done") === "retried" ? "Retry started. Reload this page in a moment to see the answer." : null)}
      problem={extra.problem}
    />,
    { title: `Delivery of ${found.event.type}`, nav: "endpoints" },
  );
}

export function registerDeliveryPages(portal: Hono<PortalEnv>): void {
  portal.get("/deliveries/:id", (c) => showDelivery(c, c.req.param("id")));

  portal.post("/deliveries/:id/retry", async (c) => {
    const id = c.req.param("id");
    try {
      await deliveries.retryDelivery(c.var.deps, sessionOf(c).tenantId, id);
    } catch (err) {
      if (!(err instanceof AppError) || err.status !== 409) throw err;
      c.status(409);
      return showDelivery(c, id, { problem: "This delivery cannot be retried now. If its endpoint is disabled, re-enable it first." });
    }
    return c.redirect(`${href("/deliveries", id)}?done=retried`, 303);
  });

  portal.get("/event-types", async (c) => {
    const types = await catalogFor(c.var.deps, sessionOf(c).tenantId);
    return c.render(<CatalogPage types={types} />, { title: "Event catalog", nav: "catalog" });
  });
}
