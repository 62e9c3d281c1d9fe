/**
 * @module Whole-page messages: a link that cannot be used, a session that ended, a page
 * that does not exist, a change a view-only session may not make, and a confirmation
 * before something that cannot be undone.
 */
import type { Child, FC } from "hono/jsx";
import { href } from "../context";
import { PostForm } from "../layout";

export const MessagePage: FC<{ heading: string; children: Child; back?: { to: string; label: string } }> = ({ heading, children, back }) => (
  <section class="card">
    <h1>{heading}</h1>
    {children}
    {back && (
      <p>
        <a href={back.to}>{back.label}</a>
      </p>
    )}
  </section>
);

/** The words of the pages a link or session cannot open, by cause. */
export const LINK_MESSAGES = {
  missing: {
    status: 401,
    heading: "This link is not complete",
    text: "The sign-in link is missing its code. Open the webhooks page again from the application you came from.",
  },
  unknown: {
    status: 401,
    heading: "This link is not valid",
    text: "We do not recognise this sign-in link. Open the webhooks page again from the application you came from to get a new one.",
  },
  used: {
    status: 410,
    heading: "This link was already used",
    text: "Each sign-in link works once. Open the webhooks page again from the application you came from to get a new one.",
  },
  expired: {
    status: 410,
    heading: "This link has expired",
    text: "Sign-in links are only valid for a short time. Open the webhooks page again from the application you came from to get a new one.",
  },
  ended: {
    status: 401,
    heading: "Your session has ended",
    text: "For your security, sessions end after a while. Open the webhooks page again from the application you came from to continue.",
  },
} as const;

export type LinkProblem = keyof typeof LINK_MESSAGES;

/** A destructive action's confirmation page (delete, rotate): works without a script and by keyboard. */
export const ConfirmPage: FC<{
  heading: string;
  children: Child;
  action: string;
  confirmLabel: string;
  cancelTo: string;
  fields?: Child;
}> = ({ heading, children, action, confirmLabel, cancelTo, fields }) => (
  <section class="card">
    <h1>{heading}</h1>
    {children}
    <PostForm action={action}>
      {fields}
      <div class="actions">
        <button type="submit" class="danger">
          {confirmLabel}
        </button>
        <a class="button secondary" href={cancelTo}>
          Cancel
        </a>
      </div>
    </PostForm>
  </section>
);

export const notFoundBack = { to: href(), label: "Back to your endpoints" };
