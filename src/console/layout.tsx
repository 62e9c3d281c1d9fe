/**
 * @module The console's page layout (a `jsxRenderer`): the portal's page frame, look and
 * components, with the console's own brand and navigation. The current section is read
 * from the path, so pages pass only a title.
 */
import { jsxRenderer } from "hono/jsx-renderer";
import { NavLink, PageFrame, PostForm } from "../portal/layout";
import { CONSOLE_BASE, href, type ConsoleEnv } from "./context";

const SECTIONS: { to: string; label: string; owns: (path: string) => boolean }[] = [
  { to: href(), label: "Tenants", owns: (p) => p === CONSOLE_BASE || p.startsWith(href("/tenants")) },
  { to: href("/endpoints"), label: "Endpoints needing attention", owns: (p) => p.startsWith(href("/endpoints")) },
  { to: href("/dead-letters"), label: "Dead letters", owns: (p) => p.startsWith(href("/dead-letters")) },
  { to: href("/find"), label: "Find by id", owns: (p) => p.startsWith(href("/find")) },
];

/** The layout of every console page. */
export const consoleRenderer = jsxRenderer<ConsoleEnv>(({ children, title }, c) => (
  <PageFrame
    title={`${title} · Switchyard console`}
    assets={href("/assets/console")}
    brand="Switchyard console"
    bar={
      c.var.session && (
        <>
          <nav aria-label="Main">
            <ul>
              {SECTIONS.map((s) => (
                <li>
                  <NavLink to={s.to} current={s.owns(c.req.path)}>
                    {s.label}
                  </NavLink>
                </li>
              ))}
            </ul>
          </nav>
          <PostForm action={href("/sign-out")}>
            <button type="submit" class="link">
              Sign out
            </button>
          </PostForm>
        </>
      )
    }
  >
    {children}
  </PageFrame>
));
