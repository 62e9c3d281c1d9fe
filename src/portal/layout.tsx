/**
 * @module The one page layout (a `jsxRenderer`) and the small components every page
 * shares. Everything is rendered through JSX, which escapes text and attributes; nothing
 * here uses `raw()`.
 */
import type { Child, FC, PropsWithChildren } from "hono/jsx";
import { jsxRenderer, useRequestContext } from "hono/jsx-renderer";
import type { FieldError } from "../errors";
import { href, type PortalEnv } from "./context";
import type { PortalSession } from "../core/portal-sessions";
import type { Tone } from "./words";

export type NavItem = "endpoints" | "catalog" | null;

export interface PageProps {
  title: string;
  nav?: NavItem;
}

declare module "hono" {
  interface ContextRenderer {
    (content: string | Promise<string>, props: PageProps): Response | Promise<Response>;
  }
}

/** The CSRF token of the session, as the hidden field every write form carries (portal and console sessions alike). */
export const Csrf: FC = () => {
  const c = useRequestContext<{ Variables: { session?: { csrfToken: string } | undefined } }>();
  return <input type="hidden" name="_csrf" value={c.var.session?.csrfToken ?? ""} />;
};

/** A POST form with the CSRF field. */
export const PostForm: FC<PropsWithChildren<{ action: string; class?: string; id?: string; "aria-label"?: string }>> = ({ children, ...attrs }) => (
  <form method="post" {...attrs}>
    <Csrf />
    {children}
  </form>
);

/** "2026-11-23 12:00:05 UTC": what a page shows for a time before (or without) its script. */
export function utcText(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/** A time in the viewer's zone (formatted by the page script; UTC without it). */
export const Time: FC<{ ms: number | null }> = ({ ms }) =>
  ms === null ? <span class="muted">—</span> : <time datetime={new Date(ms).toISOString()}>{utcText(ms)}</time>;

export const Badge: FC<{ tone: Tone; children: Child }> = ({ tone, children }) => <span class={`badge tone-${tone}`}>{children}</span>;

/** A page's flash messages: a notice (status) and a problem (alert), each only when set. */
export const Flash: FC<{ notice?: string | null; problem?: string | null }> = ({ notice, problem }) => (
  <>
    {notice && (
      <p class="notice" role="status">
        {notice}
      </p>
    )}
    {problem && (
      <p class="problem" role="alert">
        {problem}
      </p>
    )}
  </>
);

/** A form's problems as a summary; each field also shows its own beside it. */
export const Problems: FC<{ errors: FieldError[]; detail?: string }> = ({ errors, detail }) =>
  errors.length || detail ? (
    <div class="problem" role="alert" id="problems" tabindex={-1}>
      <strong>{detail ?? "Please check the form."}</strong>
      {errors.length > 0 && (
        <ul>
          {errors.map((e) => (
            <li>{e.message}</li>
          ))}
        </ul>
      )}
    </div>
  ) : null;

/** The message of one field, linked to its control by `aria-describedby`. */
export const FieldMessage: FC<{ id: string; errors: FieldError[]; name: string }> = ({ id, errors, name }) => {
  const mine = errors.filter((e) => e.path === name);
  return mine.length ? (
    <p class="field-error" id={id}>
      {mine.map((e) => e.message).join(" ")}
    </p>
  ) : null;
};

/** A navigation link, marked when it is the current section. */
export const NavLink: FC<{ to: string; current: boolean; children: Child }> = ({ to, current, children }) => (
  <a href={to} aria-current={current ? "page" : undefined}>
    {children}
  </a>
);

/**
 * The frame of every page, the portal's and the console's: head (stylesheet and script
 * from `assets`), skip link, header bar (`brand`, then `bar`: navigation and sign-out),
 * an optional banner, main, and the footer the page script fills in.
 */
export const PageFrame: FC<{ title: string; assets: string; brand: string; bar: Child; banner?: Child; children: Child }> = ({ title, assets, brand, bar, banner, children }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <meta name="referrer" content="same-origin" />
      <title>{title}</title>
      <link rel="stylesheet" href={`${assets}.css`} />
      <script src={`${assets}.js`} defer></script>
    </head>
    <body>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <div class="bar">
          <span class="brand">{brand}</span>
          {bar}
        </div>
      </header>
      {banner}
      <main id="main">{children}</main>
      <footer>
        Times are shown in <span data-tz-name>UTC</span>.
        <span class="visually-hidden" id="copy-status" role="status" aria-live="polite"></span>
      </footer>
    </body>
  </html>
);

/** The layout of every portal page. */
export const renderer = jsxRenderer<PortalEnv>(({ children, title, nav }, c) => {
  const session: PortalSession | undefined = c.var.session;
  return (
    <PageFrame
      title={`${title} · Webhooks`}
      assets={href("/assets/portal")}
      brand="Webhooks"
      bar={
        session && (
          <>
            <nav aria-label="Main">
              <ul>
                <li>
                  <NavLink to={href()} current={nav === "endpoints"}>
                    Endpoints
                  </NavLink>
                </li>
                <li>
                  <NavLink to={href("/event-types")} current={nav === "catalog"}>
                    Event catalog
                  </NavLink>
                </li>
              </ul>
            </nav>
            <PostForm action={href("/logout")}>
              <button type="submit" class="link">
                Sign out
              </button>
            </PostForm>
          </>
        )
      }
      banner={
        session?.readOnly && (
          <p class="banner" role="note">
            View only: you can look at everything here, but not change anything.
          </p>
        )
      }
    >
      {children}
    </PageFrame>
  );
});
