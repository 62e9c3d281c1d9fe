/**
 * @module The tenant portal: a Hono sub-app mounted at /portal beside the API (no bearer
 * auth; a session cookie from a one-time magic link instead). Server-rendered pages under
 * one layout, plain forms, and one small script.
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { AppError } from "../errors";
import { PORTAL_CSS, PORTAL_JS } from "./assets";
import { href, PORTAL_BASE, type PortalContext, type PortalEnv } from "./context";
import { registerDeliveryPages } from "./delivery-pages";
import { registerEndpointPages } from "./endpoint-pages";
import { clearSessionCookie, guardWrites, linkProblem, portalHeaders, requireSession, setSessionCookie } from "./guards";
import { renderer } from "./layout";
import { MessagePage, notFoundBack } from "./pages/messages";
import { endPortalSession, redeemPortalLink } from "../core/portal-sessions";

/** Larger than any test-send payload the API accepts (MAX_PAYLOAD_BYTES defaults to 256 KiB). */
const MAX_FORM_BYTES = 1024 * 1024;

function errorPage(err: Error, c: PortalContext) {
  if (err instanceof AppError && err.status === 404) {
    c.status(404);
    return c.render(
      <MessagePage heading="Not found" back={notFoundBack}>
        <p>This page does not exist, or what it showed was deleted.</p>
      </MessagePage>,
      { title: "Not found" },
    );
  }
  if (err instanceof AppError && err.status < 500) {
    c.status(err.status as 400);
    return c.render(
      <MessagePage heading="That did not work" back={notFoundBack}>
        <p>{err.detail}</p>
      </MessagePage>,
      { title: "That did not work" },
    );
  }
  if (!(err instanceof AppError)) console.error("portal error", err);
  c.status(err instanceof AppError ? (err.status as 503) : 500);
  return c.render(
    <MessagePage heading="Something went wrong on our side" back={notFoundBack}>
      <p>Please try again in a moment.</p>
    </MessagePage>,
    { title: "Something went wrong" },
  );
}

/** Builds the portal; index.ts mounts it at {@link PORTAL_BASE}. */
export function createPortal(): Hono<PortalEnv> {
  const portal = new Hono<PortalEnv>();
  portal.use("*", portalHeaders);

  const asset = (body: string, type: string) => (c: PortalContext) => c.body(body, 200, { "content-type": type, "cache-control": "public, max-age=300" });
  portal.get("/assets/portal.css", asset(PORTAL_CSS, "text/css; charset=utf-8"));
  portal.get("/assets/portal.js", asset(PORTAL_JS, "text/javascript; charset=utf-8"));

  portal.use("*", renderer);

  portal.get("/login", async (c) => {
    const token = c.req.query("token");
    if (!token) return linkProblem(c, "missing");
    const r = await redeemPortalLink(c.var.deps, token);
    if (r.kind !== "started") return linkProblem(c, r.kind);
    setSessionCookie(c, r.sessionToken, r.maxAgeSeconds);
    return c.redirect(href(), 303);
  });

  // Everything registered after this line needs a live session (the login link and the
  // assets above answer before it runs).
  portal.use("*", requireSession);
  const tooLarge = (c: PortalContext) => {
    c.status(413);
    return c.render(
      <MessagePage heading="That is too much at once" back={notFoundBack}>
        <p>The form you sent is larger than we accept. Go back and send less data.</p>
      </MessagePage>,
      { title: "Too large" },
    );
  };
  portal.post("*", bodyLimit({ maxSize: MAX_FORM_BYTES, onError: tooLarge }), guardWrites);

  portal.post("/logout", async (c) => {
    const session = c.var.session;
    if (session) await endPortalSession(c.var.deps, session.id);
    clearSessionCookie(c);
    c.set("session", undefined);
    return c.render(
      <MessagePage heading="You are signed out">
        <p>To come back, open the webhooks page again from the application you came from.</p>
      </MessagePage>,
      { title: "Signed out" },
    );
  });

  registerEndpointPages(portal);
  registerDeliveryPages(portal);

  portal.all("*", (c) => {
    if (c.req.method === "GET" && c.req.path.length > PORTAL_BASE.length && c.req.path.endsWith("/")) return c.redirect(c.req.path.slice(0, -1), 301);
    return errorPage(new AppError(404, "No such page."), c);
  });
  portal.onError(errorPage);
  return portal;
}
