/**
 * @module Dead letters of every tenant (D1), filtered by tenant, endpoint and creation time,
 * with replay (one, or every match) and delete; and one dead letter's page.
 */
import type { FC } from "hono/jsx";
import { seqId } from "../../domain/ids";
import type { DeadLetterRow } from "../../db/queries/dead-letters";
import { ConfirmPage } from "../../portal/pages/messages";
import { Flash, PostForm, Time } from "../../portal/layout";
import { httpStatus, reasonWords } from "../../portal/words";
import { href, hrefWith } from "../context";
import { Cell, Pager, TenantLink } from "./parts";

/** The filter form exactly as typed (times in the viewer's zone, their offsets beside them). */
export interface DeadLetterFilterValues {
  tenant: string;
  endpoint: string;
  since: string;
  sinceTz: string;
  until: string;
  untilTz: string;
}

/** The list's query string for these filters. */
export function filterQuery(f: DeadLetterFilterValues): Record<string, string> {
  return { tenant: f.tenant, endpoint: f.endpoint, since: f.since, since_tz: f.since ? f.sinceTz : "", until: f.until, until_tz: f.until ? f.untilTz : "" };
}

const ReplayButton: FC<{ row: DeadLetterRow; back: string }> = ({ row, back }) => {
  const id = seqId("dl", row.seq);
  return (
    <PostForm action={href("/dead-letters", id, "/replay")} class="inline-form">
      <input type="hidden" name="back" value={back} />
      <button type="submit" class="secondary">
        Replay<span class="visually-hidden">{` ${id}`}</span>
      </button>
    </PostForm>
  );
};

const DeleteLink: FC<{ row: DeadLetterRow; back: string }> = ({ row, back }) => {
  const id = seqId("dl", row.seq);
  return (
    <a class="button secondary" href={hrefWith(href("/dead-letters", id, "/delete"), { back })}>
      Delete<span class="visually-hidden">{` ${id}`}</span>
    </a>
  );
};

export const DeadLettersPage: FC<{
  rows: DeadLetterRow[];
  filters: DeadLetterFilterValues;
  /** The filters as read, for the bulk replay (times already in ms). */
  resolved: { tenantId?: string; endpointId?: string; since?: number; until?: number };
  nextBefore: string | null;
  onFirstPage: boolean;
  back: string;
  notice: string | null;
  problem: string | null;
}> = ({ rows, filters: f, resolved, nextBefore, onFirstPage, back, notice, problem }) => {
  const filtered = Object.values(filterQuery(f)).some(Boolean);
  const listHref = hrefWith(href("/dead-letters"), filterQuery(f));
  return (
    <>
      <h1>Dead letters</h1>
      <Flash notice={notice} problem={problem} />
      <section class="card" aria-labelledby="filters-heading">
        <h2 id="filters-heading">Filter</h2>
        <form method="get" action={href("/dead-letters")}>
          <div class="filters">
            <div class="row">
              <label for="dl-tenant">Tenant id</label>
              <input type="text" id="dl-tenant" name="tenant" value={f.tenant} autocomplete="off" />
            </div>
            <div class="row">
              <label for="dl-endpoint">Endpoint id</label>
              <input type="text" id="dl-endpoint" name="endpoint" value={f.endpoint} autocomplete="off" />
            </div>
            <div class="row">
              <label for="dl-since">
                Created from (<span data-tz-name>UTC</span>)
              </label>
              <input type="datetime-local" id="dl-since" name="since" value={f.since} />
              <input type="hidden" name="since_tz" value={f.sinceTz} data-tz-for="dl-since" />
            </div>
            <div class="row">
              <label for="dl-until">
                Created before (<span data-tz-name>UTC</span>)
              </label>
              <input type="datetime-local" id="dl-until" name="until" value={f.until} />
              <input type="hidden" name="until_tz" value={f.untilTz} data-tz-for="dl-until" />
            </div>
          </div>
          <div class="actions">
            <button type="submit" class="secondary">
              Show
            </button>
            {filtered && <a href={href("/dead-letters")}>Clear filters</a>}
          </div>
        </form>
      </section>
      <section class="card" aria-labelledby="list-heading">
        <div class="item-head">
          <h2 id="list-heading">{filtered ? "Matching dead letters, newest first" : "Every dead letter, newest first"}</h2>
        </div>
        {rows.length === 0 ? (
          <p>{onFirstPage ? "No dead letters match." : "No more dead letters."}</p>
        ) : (
          <>
            <PostForm action={href("/dead-letters/replay")} aria-label="Replay every match">
              {resolved.tenantId && <input type="hidden" name="tenant" value={resolved.tenantId} />}
              {resolved.endpointId && <input type="hidden" name="endpoint" value={resolved.endpointId} />}
              {resolved.since !== undefined && <input type="hidden" name="since_ms" value={String(resolved.since)} />}
              {resolved.until !== undefined && <input type="hidden" name="until_ms" value={String(resolved.until)} />}
              <input type="hidden" name="back" value={listHref} />
              <p class="actions">
                <button type="submit">{filtered ? "Replay every matching dead letter" : "Replay every dead letter"}</button>
                <span class="muted">Each is retried like its delivery; it leaves this list when the retry starts.</span>
              </p>
            </PostForm>
            <div class="table-wrap">
              <table class="stack">
                <thead>
                  <tr>
                    <th scope="col">Dead letter</th>
                    <th scope="col">Tenant</th>
                    <th scope="col">Event</th>
                    <th scope="col">Why</th>
                    <th scope="col" class="num">
                      Attempts
                    </th>
                    <th scope="col">Actions</th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map((row) => (
                    <tr>
                      <Cell label="Dead letter">
                        <a href={href("/dead-letters", seqId("dl", row.seq))}>
                          <code>{seqId("dl", row.seq)}</code>
                        </a>
                        <br />
                        <Time ms={row.createdAt} />
                      </Cell>
                      <Cell label="Tenant">
                        <TenantLink tenantId={row.tenantId} />
                        {row.endpointId && (
                          <>
                            <br />
                            <code class="muted">{row.endpointId}</code>
                          </>
                        )}
                      </Cell>
                      <Cell label="Event">
                        {row.eventType ?? "—"}
                        {row.deliveryId && (
                          <>
                            <br />
                            <a href={hrefWith(href("/find"), { q: row.deliveryId })}>
                              <span class="visually-hidden">Delivery </span>
                              <code>{row.deliveryId}</code>
                            </a>
                          </>
                        )}
                      </Cell>
                      <Cell label="Why">
                        {reasonWords(row.reason)}
                        <br />
                        <span class="muted">{httpStatus(row.lastResponseStatus)}</span>
                      </Cell>
                      <Cell label="Attempts" class="num">
                        {row.attempts}
                      </Cell>
                      <Cell label="Actions">
                        <span class="actions">
                          <ReplayButton row={row} back={back} />
                          <DeleteLink row={row} back={back} />
                        </span>
                      </Cell>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </>
        )}
        <Pager
          label="More dead letters"
          first={listHref}
          next={nextBefore === null ? null : hrefWith(href("/dead-letters"), { ...filterQuery(f), before: nextBefore })}
          onFirstPage={onFirstPage}
        />
      </section>
    </>
  );
};

export const DeadLetterPage: FC<{ row: DeadLetterRow; notice: string | null }> = ({ row, notice }) => {
  const id = seqId("dl", row.seq);
  // Replayed or deleted, it leaves: go back to the list, not to this page.
  const back = href("/dead-letters");
  return (
    <>
      <p>
        <a href={href("/dead-letters")}>← All dead letters</a>
      </p>
      <h1>
        Dead letter <code>{id}</code>
      </h1>
      <Flash notice={notice} />
      <section class="card">
        <dl class="facts">
          <dt>Tenant</dt>
          <dd>
            <TenantLink tenantId={row.tenantId} />
          </dd>
          <dt>Endpoint</dt>
          <dd>{row.endpointId ? <code>{row.endpointId}</code> : "—"}</dd>
          <dt>Event type</dt>
          <dd>{row.eventType ?? "—"}</dd>
          <dt>Event</dt>
          <dd>{row.eventId ? <a href={hrefWith(href("/find"), { q: row.eventId, tenant: row.tenantId })}>{row.eventId}</a> : "—"}</dd>
          <dt>Delivery</dt>
          <dd>{row.deliveryId ? <a href={hrefWith(href("/find"), { q: row.deliveryId })}>{row.deliveryId}</a> : "—"}</dd>
          <dt>Why</dt>
          <dd>{reasonWords(row.reason)}</dd>
          <dt>Attempts</dt>
          <dd>{row.attempts}</dd>
          <dt>Last answer</dt>
          <dd>{httpStatus(row.lastResponseStatus)}</dd>
          <dt>Created</dt>
          <dd>
            <Time ms={row.createdAt} />
          </dd>
        </dl>
        <div class="actions">
          <ReplayButton row={row} back={back} />
          <DeleteLink row={row} back={back} />
        </div>
      </section>
    </>
  );
};

export const DeleteDeadLetterPage: FC<{ row: DeadLetterRow; back: string }> = ({ row, back }) => {
  const id = seqId("dl", row.seq);
  return (
    <ConfirmPage
      heading={`Delete dead letter ${id}?`}
      action={href("/dead-letters", id, "/delete")}
      confirmLabel="Delete dead letter"
      cancelTo={back}
      fields={<input type="hidden" name="back" value={back} />}
    >
      <p>
        Its delivery stays failed in the tenant's log (a {row.eventType ?? "event"} to <code>{row.endpointId ?? "a deleted endpoint"}</code>); it can still be
        retried there, but it will no longer be listed here.
      </p>
    </ConfirmPage>
  );
};
