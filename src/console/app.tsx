/**
 * @module The operator console: a Hono sub-app mounted at /console beside the API and the
 * portal (DESIGN.md "Operator console"). Signed in with the admin token, which is exchanged
 * for a signed session cookie; server-rendered pages under one layout, plain forms, and the
 * portal's small script. docs/console.md describes each page.
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { getCookie } from "hono/cookie";
import { getConfig } from "../config";
import { AppError } from "../errors";
import { field } from "../portal/forms";
import { isCrossSiteForm } from "../portal/guards";
import { MessagePage } from "../portal/pages/messages";
import { CONSOLE_CSS, CONSOLE_JS } from "./assets";
import { href, type ConsoleContext, type ConsoleEnv } from "./context";
import { registerDeadLetterPages } from "./dead-letter-pages";
import { registerFindPages } from "./find-pages";
import { clearConsoleCookie, CONSOLE_COOKIE, consoleHeaders, guardConsoleWrites, requireConsoleSession, safeNext, setConsoleCookie } from "./guards";
import { consoleRenderer } from "./layout";
import { SignInPage } from "./pages/sign-in";
import { isAdminToken, readConsoleSession, startConsoleSession } from "./sessions";
import { registerTenantPages } from "./tenant-pages";

/** The console's forms are small: an id, a few filters, a token. */
const MAX_FORM_BYTES = 64 * 1024;

const back = { to: href(), label: "Back to the overview" };

function errorPage(err: Error, c: ConsoleContext) {
  if (err instanceof AppError && err.status < 500) {
    c.status(err.status as 400);
    const heading = err.status === 404 ? "Not found" : "That did not work";
    return c.render(
      <MessagePage heading={heading} back={back}>
        <p>{err.detail}</p>
      </MessagePage>,
      { title: heading },
    );
  }
  if (!(err instanceof AppError)) console.error("console error", err);
  c.status(err instanceof AppError ? (err.status as 503) : 500);
  return c.render(
    <MessagePage heading="Something went wrong on our side" back={back}>
      <p>Please try again in a moment. The Worker's logs have the details.</p>
    </MessagePage>,
    { title: "Something went wrong" },
  );
}

function signInPage(c: ConsoleContext, opts: { next?: string; refused?: boolean; ended?: boolean; signedOut?: boolean }) {
  return c.render(<SignInPage next={safeNext(opts.next)} refused={!!opts.refused} ended={!!opts.ended} signedOut={!!opts.signedOut} />, { title: "Sign in" });
}

/** Builds the console; index.ts mounts it at /console. */
export function createConsole(): Hono<ConsoleEnv> {
  const app = new Hono<ConsoleEnv>();
  app.use("*", consoleHeaders);

  const asset = (body: string, type: string) => (c: ConsoleContext) => c.body(body, 200, { "content-type": type, "cache-control": "public, max-age=300" });
  app.get("/assets/console.css", asset(CONSOLE_CSS, "text/css; charset=utf-8"));
  app.get("/assets/console.js", asset(CONSOLE_JS, "text/javascript; charset=utf-8"));

  app.use("*", consoleRenderer);
  const tooLarge = (c: ConsoleContext) => {
    c.status(413);
    return c.render(
      <MessagePage heading="That is too much at once" back={back}>
        <p>The form you sent is larger than the console accepts.</p>
      </MessagePage>,
      { title: "Too large" },
    );
  };
  app.post("*", bodyLimit({ maxSize: MAX_FORM_BYTES, onError: tooLarge }));

  app.get("/sign-in", async (c) => {
    const config = getConfig(c.env);
    if (config.adminToken === null) {
      c.status(503);
      return c.render(
        <MessagePage heading="The console is not set up">
          <p>Set the Worker's ADMIN_TOKEN secret to sign in here.</p>
        </MessagePage>,
        { title: "Not set up" },
      );
    }
    const cookie = getCookie(c, CONSOLE_COOKIE);
    if (cookie && (await readConsoleSession(config.adminToken, cookie, c.var.deps.now))) return c.redirect(safeNext(c.req.query("next")), 303);
    return signInPage(c, { next: c.req.query("next"), ended: c.req.query("ended") === "1" });
  });

  // No session yet, so no CSRF token: a sign-in form from another site is refused by its origin.
  app.post("/sign-in", async (c) => {
    const form = await c.req.parseBody({ all: true });
    const next = field(form, "next");
    if (isCrossSiteForm(c)) {
      c.status(403);
      return signInPage(c, { next, refused: true });
    }
    const adminToken = getConfig(c.env).adminToken;
    if (adminToken === null || !(await isAdminToken(field(form, "token"), adminToken))) {
      c.status(401);
      return signInPage(c, { next, refused: true });
    }
    const now = c.var.deps.now;
    const { cookie, session } = await startConsoleSession(adminToken, now);
    setConsoleCookie(c, cookie, session, now);
    return c.redirect(safeNext(next), 303);
  });

  // Everything registered after this line needs a live session.
  app.use("*", requireConsoleSession);
  app.post("*", guardConsoleWrites);

  app.post("/sign-out", (c) => {
    clearConsoleCookie(c);
    c.set("session", undefined);
    return signInPage(c, { signedOut: true });
  });

  registerTenantPages(app);
  registerDeadLetterPages(app);
  registerFindPages(app);

  app.all("*", (c) => {
    if (c.req.method === "GET" && c.req.path.length > href().length && c.req.path.endsWith("/")) return c.redirect(c.req.path.slice(0, -1), 301);
    return errorPage(new AppError(404, "This page does not exist, or what it showed was deleted."), c);
  });
  app.onError(errorPage);
  return app;
}
