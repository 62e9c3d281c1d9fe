/**
 * @module The sign-in page: the admin token, exchanged for a session cookie. A refused
 * token gets the same page with one sentence, never why.
 */
import type { FC } from "hono/jsx";
import { href } from "../context";

export const SignInPage: FC<{ next: string; refused: boolean; ended: boolean; signedOut: boolean }> = ({ next, refused, ended, signedOut }) => (
  <section class="card">
    <h1>Sign in to the console</h1>
    {signedOut && (
      <p class="notice" role="status">
        You are signed out.
      </p>
    )}
    {ended && !refused && (
      <p class="notice" role="status">
        Your session has ended. Sign in again to continue.
      </p>
    )}
    {refused && (
      <p class="problem" role="alert" id="problems">
        That token was not accepted.
      </p>
    )}
    <form method="post" action={href("/sign-in")}>
      <input type="hidden" name="next" value={next} />
      <div class="row">
        <label for="token">
          Admin token
          <span class="hint">The value of the Worker's ADMIN_TOKEN secret. The session lasts 12 hours.</span>
        </label>
        <input
          type="password"
          id="token"
          name="token"
          autocomplete="current-password"
          required
          aria-invalid={refused ? "true" : undefined}
          aria-describedby={refused ? "problems" : undefined}
        />
      </div>
      <button type="submit">Sign in</button>
    </form>
  </section>
);
