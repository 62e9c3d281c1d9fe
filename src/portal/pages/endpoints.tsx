/**
 * @module The Endpoints page: each endpoint's URL, description, status, subscription and
 * success rate over the last 24 hours, or what to do first when there are none.
 */
import type { FC } from "hono/jsx";
import type { EndpointRow } from "../../db/queries/endpoints";
import { href } from "../context";
import { Badge, Flash } from "../layout";
import { circuitStateOf } from "../../core/endpoints";
import { CIRCUIT_BADGE, ENDPOINT_STATUS, subscriptionWords, successRate } from "../words";

export const Subscription: FC<{ filter: EndpointRow["filter"] }> = ({ filter }) => {
  const { receives, except } = subscriptionWords(filter);
  return (
    <span class="wrap">
      {receives.map((r, i) => (
        <>
          {i > 0 && ", "}
          {r === "All events" || r.startsWith("everything in ") ? r : <code>{r}</code>}
        </>
      ))}
      {except.length > 0 && (
        <>
          {" except "}
          {except.map((x, i) => (
            <>
              {i > 0 && ", "}
              <code>{x}</code>
            </>
          ))}
        </>
      )}
    </span>
  );
};

export const EndpointsPage: FC<{
  endpoints: { row: EndpointRow; successRate: number | null }[];
  nextCursor: string | null;
  firstPage: boolean;
  readOnly: boolean;
  notice: string | null;
  now: number;
}> = ({ endpoints, nextCursor, firstPage, readOnly, notice, now }) => (
  <>
    <div class="item-head">
      <h1>Endpoints</h1>
      {!readOnly && endpoints.length > 0 && (
        <a class="button" href={href("/endpoints/new")}>
          Add endpoint
        </a>
      )}
    </div>
    <Flash notice={notice} />
    {endpoints.length === 0 && firstPage ? (
      <section class="card empty">
        <h2>No endpoints yet</h2>
        <p>An endpoint is a web address on your system. Each time something happens, we send it a message there, and show you here whether it arrived.</p>
        {readOnly ? (
          <p>Ask someone who can make changes to add the first one.</p>
        ) : (
          <>
            <p>Add one to start receiving webhooks, then send it a test event to check it works.</p>
            <p>
              <a class="button" href={href("/endpoints/new")}>
                Add your first endpoint
              </a>
            </p>
          </>
        )}
      </section>
    ) : (
      <section class="card" aria-label="Your endpoints">
        <ul class="list">
          {endpoints.map(({ row, successRate: rate }) => {
            const circuit = row.status === "disabled" ? null : CIRCUIT_BADGE[circuitStateOf(row, now)];
            return (
              <li>
                <div class="item-head">
                  <a href={href("/endpoints", row.id)}>{row.url}</a>
                  <Badge tone={ENDPOINT_STATUS[row.status].tone}>{ENDPOINT_STATUS[row.status].label}</Badge>
                  {circuit && <Badge tone={circuit.tone}>{circuit.label}</Badge>}
                </div>
                {row.description && <p class="wrap">{row.description}</p>}
                <dl class="facts">
                  <dt>Receives</dt>
                  <dd>
                    <Subscription filter={row.filter} />
                  </dd>
                  <dt>Success, last 24 h</dt>
                  <dd>{successRate(rate)}</dd>
                </dl>
              </li>
            );
          })}
        </ul>
        {(nextCursor || !firstPage) && (
          <nav class="pager" aria-label="More endpoints">
            {!firstPage && <a href={href()}>Back to the first page</a>}
            {nextCursor && <a href={`${href()}?cursor=${encodeURIComponent(nextCursor)}`}>More endpoints</a>}
          </nav>
        )}
      </section>
    )}
  </>
);
