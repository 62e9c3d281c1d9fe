/**
 * @module The Endpoint page: status and its actions, the signing secret (hidden until
 * "Reveal"), a test send with the answer inline, figures and charts over 24 hours or 7 days,
 * the filtered and paged deliveries log, and "Replay failed since…".
 */
import type { FC } from "hono/jsx";
import type { EndpointRow } from "../../db/queries/endpoints";
import type { EventTypeRow } from "../../db/queries/event-types";
import type { DeliveryView } from "../../core/deliveries";
import { circuitStateOf } from "../../core/endpoints";
import type { ChartRange, HourlySeries } from "../../domain/hourly-series";
import { DEFAULT_RETRY_SCHEDULE } from "../../domain/retry-schedule";
import { matchesFilter } from "../../domain/filter";
import type { FieldError } from "../../errors";
import { LatencyChart, RangeSwitch, VolumeChart } from "../../ui/charts";
import { href } from "../context";
import { Badge, FieldMessage, Flash, PostForm, Problems, Time } from "../layout";
import {
  attemptError,
  CIRCUIT_BADGE,
  circuitSettingsWords,
  deliveryState,
  duration,
  ENDPOINT_STATUS,
  httpStatus,
  reasonWords,
  scheduleEntry,
  successRate,
  type CircuitState,
} from "../words";
import { Subscription } from "./endpoints";

/** The log filter as typed (datetime-local values in the viewer's zone, with their offsets). */
export interface LogFilterValues {
  status: string;
  type: string;
  since: string;
  sinceTz: string;
  until: string;
  untilTz: string;
}

export interface TestSendView {
  type: string;
  deliveryId: string;
  responseStatus: number | null;
  durationMs: number | null;
  error: string | null;
  responseBody: string | null;
  at: number;
}

export interface EndpointPageProps {
  endpoint: EndpointRow;
  readOnly: boolean;
  now: number;
  catalog: EventTypeRow[];
  /** Totals over the charts' hours (`activity.range`). */
  stats: { counts: { pending: number; delivered: number; failed: number }; successRate: number | null; latency: { p50: number | null; p95: number | null } };
  /** Hour by hour (6 hours by 6 over 7 days), from the hourly rollups; docs/charts.md. */
  activity: { range: ChartRange; series: HourlySeries };
  log: { items: DeliveryView[]; nextCursor: string | null; filters: LogFilterValues; paged: boolean; problem: string | null };
  notice?: string | null;
  problem?: string | null;
  secrets?: { secret: string; expiresAt: number | null }[];
  test?: { result?: TestSendView; type: string; data: string; errors: FieldError[]; detail?: string };
  replay?: { errors: FieldError[]; detail?: string };
}

const SettingsFacts: FC<{ e: EndpointRow }> = ({ e }) => (
  <dl class="facts">
    <dt>Receives</dt>
    <dd>
      <Subscription filter={e.filter} />
    </dd>
    <dt>Format</dt>
    <dd>{e.format === "standard" ? "Standard JSON" : "CloudEvents 1.0"}</dd>
    <dt>Signature</dt>
    <dd>{e.signature}</dd>
    <dt>Method</dt>
    <dd>{e.method}</dd>
    <dt>Order</dt>
    <dd>{e.ordering === "fifo" ? "One at a time, in order" : "As fast as possible"}</dd>
    <dt>Rate limit</dt>
    <dd>{e.rateLimit === null ? "None" : `${e.rateLimit} per second`}</dd>
    <dt>Timeout</dt>
    <dd>{duration(e.timeoutMs)}</dd>
    <dt>Retries</dt>
    <dd>{e.retrySchedule === null ? `Default (${DEFAULT_RETRY_SCHEDULE.map(scheduleEntry).join(", ")})` : e.retrySchedule.length === 0 ? "None" : e.retrySchedule.map(scheduleEntry).join(", ")}</dd>
    <dt>Circuit breaker</dt>
    <dd>{circuitSettingsWords(e.circuit)}</dd>
    <dt>Custom headers</dt>
    <dd>
      {Object.keys(e.headers).length === 0
        ? "None"
        : Object.entries(e.headers).map(([k, v]) => (
            <div class="mono">
              {k}: {v}
            </div>
          ))}
    </dd>
    <dt>Sign-in</dt>
    <dd>{e.authType === null ? "None" : e.authType === "bearer" ? "Bearer token (hidden)" : "User name and password (hidden)"}</dd>
    <dt>Added</dt>
    <dd>
      <Time ms={e.createdAt} />
    </dd>
  </dl>
);

/**
 * An open circuit in plain words: why sending stopped, that nothing is lost, and when the
 * next try is (DESIGN "Delivery rules": circuit breaker).
 */
const CircuitNotice: FC<{ e: EndpointRow; state: CircuitState }> = ({ e, state }) => {
  const times = e.circuit.open_after === 1 ? "1 timeout" : `${e.circuit.open_after} timeouts`;
  return state === "open" ? (
    <p id="circuit-notice">
      <strong>Paused by the circuit breaker</strong> after {times} or failed connections in a row: your system stopped answering, so we stopped sending to it for a while. The next try is at{" "}
      <Time ms={e.circuitOpenUntil} />. Nothing is lost and no attempts are used up meanwhile: when that try gets through, the waiting deliveries follow in order.
    </p>
  ) : (
    <p id="circuit-notice">
      <strong>Trying again:</strong> the circuit breaker paused sending after {times} or failed connections in a row, and is now sending one delivery to see whether your system answers. When it
      does, the waiting deliveries follow in order; if not, we wait longer before the next try.
    </p>
  );
};

const StatusActions: FC<{ e: EndpointRow; readOnly: boolean }> = ({ e, readOnly }) =>
  readOnly ? null : (
    <div class="actions">
      <a class="button secondary" href={href("/endpoints", e.id, "/edit")}>
        Edit
      </a>
      {e.status === "active" && (
        <PostForm action={href("/endpoints", e.id, "/status")}>
          <input type="hidden" name="status" value="paused" />
          <button type="submit" class="secondary">
            Pause
          </button>
        </PostForm>
      )}
      {e.status === "paused" && (
        <PostForm action={href("/endpoints", e.id, "/status")}>
          <input type="hidden" name="status" value="active" />
          <button type="submit">Resume</button>
        </PostForm>
      )}
      {e.status === "disabled" && (
        <PostForm action={href("/endpoints", e.id, "/status")}>
          <input type="hidden" name="status" value="active" />
          <button type="submit">Re-enable</button>
        </PostForm>
      )}
      <a class="button danger" href={href("/endpoints", e.id, "/delete")}>
        Delete
      </a>
    </div>
  );

const SecretSection: FC<{ e: EndpointRow; secrets?: { secret: string; expiresAt: number | null }[]; readOnly: boolean }> = ({ e, secrets, readOnly }) => (
  <section class="card" aria-labelledby="secret-heading">
    <h2 id="secret-heading">Signing secret</h2>
    <p class="muted">Your system uses it to check that a webhook really comes from us. Keep it private.</p>
    {secrets ? (
      <>
        <div class="secret">
          <code id="secret-value">{secrets[0]?.secret ?? ""}</code>
          <button type="button" class="secondary" data-copy="secret-value" hidden>
            Copy
          </button>
        </div>
        {secrets.slice(1).map((s, i) => (
          <div class="secret">
            <span class="muted">Previous secret, valid until <Time ms={s.expiresAt} />:</span>
            <code id={`secret-previous-${i}`}>{s.secret}</code>
          </div>
        ))}
      </>
    ) : (
      <PostForm action={href("/endpoints", e.id, "/secret")}>
        <div class="secret">
          <code aria-label="Hidden secret">whsec_••••••••••••••••</code>
          <button type="submit" class="secondary">
            Reveal
          </button>
        </div>
      </PostForm>
    )}
    {!readOnly && (
      <p>
        <a href={href("/endpoints", e.id, "/rotate")}>Rotate the secret…</a>
      </p>
    )}
  </section>
);

const TestSection: FC<{ e: EndpointRow; catalog: EventTypeRow[]; readOnly: boolean; test?: EndpointPageProps["test"] }> = ({ e, catalog, readOnly, test }) => {
  const errors = test?.errors ?? [];
  const r = test?.result;
  // Preselect a type this endpoint receives, so a first test shows a realistic webhook.
  const chosen = test?.type || catalog.find((t) => matchesFilter(e.filter, t.name, t.group))?.name;
  return (
    <section class="card" aria-labelledby="test-heading" id="test">
      <h2 id="test-heading">Send a test event</h2>
      {readOnly ? (
        <p class="muted">View-only sessions cannot send test events.</p>
      ) : catalog.length === 0 ? (
        <p class="muted">There are no event types in the catalog to test with yet.</p>
      ) : (
        <PostForm action={href("/endpoints", e.id, "/test")} aria-label="Send a test event">
          <p class="muted">Sends one signed request now, even while the endpoint is paused, and shows what your system answered.</p>
          <Problems errors={[]} detail={test?.detail} />
          <div class="row">
            <label for="test-type">Event type</label>
            <select id="test-type" name="type">
              {catalog.map((t) => (
                <option value={t.name} selected={t.name === chosen}>
                  {t.name}
                </option>
              ))}
            </select>
            <FieldMessage id="type-error" name="type" errors={errors} />
          </div>
          <div class="row">
            <label for="test-data">Data (JSON)</label>
            <span class="hint" id="test-data-hint">
              Optional. Empty sends the event type's example.
            </span>
            <textarea id="test-data" name="data" rows={3} aria-describedby="test-data-hint">
              {test?.data ?? ""}
            </textarea>
            <FieldMessage id="data-error" name="data" errors={errors} />
          </div>
          <button type="submit">Send test event</button>
        </PostForm>
      )}
      {r && (
        <div class="result" role="status" aria-live="polite" id="test-result">
          <h3>
            {r.responseStatus !== null && r.responseStatus >= 200 && r.responseStatus < 300 ? <Badge tone="ok">Delivered</Badge> : <Badge tone="bad">Failed</Badge>}{" "}
            Test <code>{r.type}</code>
          </h3>
          <dl class="facts">
            <dt>Answer</dt>
            <dd>{httpStatus(r.responseStatus)}</dd>
            {r.error && (
              <>
                <dt>Problem</dt>
                <dd>{attemptError(r.error)}</dd>
              </>
            )}
            <dt>Took</dt>
            <dd>{r.durationMs === null ? "—" : `${r.durationMs} ms`}</dd>
            <dt>Sent</dt>
            <dd>
              <Time ms={r.at} />
            </dd>
          </dl>
          <h3>Response body</h3>
          {r.responseBody ? <pre>{r.responseBody}</pre> : <p class="muted">Empty.</p>}
          <p>
            <a href={href("/deliveries", r.deliveryId)}>See the full request and response</a>
          </p>
        </div>
      )}
    </section>
  );
};

const RANGE_HEADINGS: Record<ChartRange, string> = { "24h": "Last 24 hours", "7d": "Last 7 days" };

const ActivitySection: FC<{ e: EndpointRow; stats: EndpointPageProps["stats"]; activity: EndpointPageProps["activity"] }> = ({ e, stats, activity }) => (
  <section class="card" aria-labelledby="stats-heading" id="activity">
    <h2 id="stats-heading">{RANGE_HEADINGS[activity.range]}</h2>
    <RangeSwitch current={activity.range} hrefFor={(r) => `${href("/endpoints", e.id)}${r === "24h" ? "" : `?range=${r}`}#activity`} />
    <dl class="stats">
      <div>
        <dt>Success rate</dt>
        <dd>{successRate(stats.successRate)}</dd>
      </div>
      <div>
        <dt>Delivered</dt>
        <dd>{stats.counts.delivered}</dd>
      </div>
      <div>
        <dt>Failed</dt>
        <dd>{stats.counts.failed}</dd>
      </div>
      <div>
        <dt>Waiting</dt>
        <dd>{stats.counts.pending}</dd>
      </div>
      <div>
        <dt>Typical answer time</dt>
        <dd>{stats.latency.p50 === null ? "—" : `${stats.latency.p50} ms`}</dd>
      </div>
      <div>
        <dt>Slowest 5 % above</dt>
        <dd>{stats.latency.p95 === null ? "—" : `${stats.latency.p95} ms`}</dd>
      </div>
    </dl>
    <div class="charts">
      <VolumeChart series={activity.series} title="Delivered and failed" />
      <LatencyChart series={activity.series} title="Answer time" />
    </div>
  </section>
);

/** The query string of the log with these filters (and a cursor). */
export function logQuery(f: LogFilterValues, cursor?: string): string {
  const q = new URLSearchParams();
  if (f.status) q.set("status", f.status);
  if (f.type) q.set("type", f.type);
  if (f.since) (q.set("since", f.since), q.set("since_tz", f.sinceTz));
  if (f.until) (q.set("until", f.until), q.set("until_tz", f.untilTz));
  if (cursor) q.set("cursor", cursor);
  const s = q.toString();
  return s ? `?${s}` : "";
}

const LogSection: FC<{ e: EndpointRow; catalog: EventTypeRow[]; log: EndpointPageProps["log"]; now: number }> = ({ e, catalog, log, now }) => {
  const circuit = circuitStateOf(e, now);
  const f = log.filters;
  const types = catalog.some((t) => t.name === f.type) || !f.type ? catalog.map((t) => t.name) : [f.type, ...catalog.map((t) => t.name)];
  const filtered = !!(f.status || f.type || f.since || f.until);
  return (
    <section class="card" aria-labelledby="log-heading" id="log">
      <h2 id="log-heading">Deliveries</h2>
      <form method="get" action={`${href("/endpoints", e.id)}#log`} aria-label="Filter deliveries">
        <div class="grid">
          <div class="row">
            <label for="log-status">Outcome</label>
            <select id="log-status" name="status">
              {[
                ["", "All"],
                ["delivered", "Delivered"],
                ["failed", "Failed"],
                ["pending", "Waiting"],
              ].map(([v, text]) => (
                <option value={v} selected={v === f.status}>
                  {text}
                </option>
              ))}
            </select>
          </div>
          <div class="row">
            <label for="log-type">Event type</label>
            <select id="log-type" name="type">
              <option value="">All types</option>
              {types.map((t) => (
                <option value={t} selected={t === f.type}>
                  {t}
                </option>
              ))}
            </select>
          </div>
          <div class="row">
            <label for="log-since">
              From (<span data-tz-name>UTC</span>)
            </label>
            <input type="datetime-local" id="log-since" name="since" value={f.since} />
            <input type="hidden" name="since_tz" value={f.sinceTz} data-tz-for="log-since" />
          </div>
          <div class="row">
            <label for="log-until">
              Until (<span data-tz-name>UTC</span>)
            </label>
            <input type="datetime-local" id="log-until" name="until" value={f.until} />
            <input type="hidden" name="until_tz" value={f.untilTz} data-tz-for="log-until" />
          </div>
        </div>
        <div class="actions">
          <button type="submit" class="secondary">
            Show
          </button>
          {filtered && <a href={`${href("/endpoints", e.id)}#log`}>Clear filters</a>}
        </div>
      </form>
      <Flash problem={log.problem} />
      {log.items.length === 0 ? (
        <p class="muted">
          {filtered || log.paged
            ? "No deliveries match these filters."
            : "Nothing sent yet. Deliveries appear here as soon as an event this endpoint receives happens; send a test event above to try it now."}
        </p>
      ) : (
        <ul class="list" aria-label="Deliveries, newest first">
          {log.items.map((d) => {
            const state = deliveryState(d, e.status, now, circuit);
            const reason = d.status === "failed" ? reasonWords(d.reason) : null;
            return (
              <li>
                <div class="item-head">
                  <Badge tone={state.tone}>{state.label}</Badge>
                  <a href={href("/deliveries", d.id)}>
                    <code>{d.eventType}</code>
                  </a>
                  {d.test && <Badge tone="off">Test</Badge>}
                </div>
                <p class="muted">
                  <Time ms={d.createdAt} />
                  {" · "}
                  {d.attempts === 1 ? "1 attempt" : `${d.attempts} attempts`}
                  {d.responseStatus !== null && ` · last answer ${httpStatus(d.responseStatus)}`}
                  {reason && ` · ${reason}`}
                </p>
              </li>
            );
          })}
        </ul>
      )}
      {(log.nextCursor || log.paged) && (
        <nav class="pager" aria-label="More deliveries">
          {log.paged && <a href={`${href("/endpoints", e.id)}${logQuery(f)}#log`}>Newest</a>}
          {log.nextCursor && <a href={`${href("/endpoints", e.id)}${logQuery(f, log.nextCursor)}#log`}>Older deliveries</a>}
        </nav>
      )}
    </section>
  );
};

const ReplaySection: FC<{ e: EndpointRow; replay?: EndpointPageProps["replay"] }> = ({ e, replay }) => (
  <section class="card" aria-labelledby="replay-heading">
    <h2 id="replay-heading">Send failed deliveries again</h2>
    <p class="muted">After fixing your system, send every failed delivery since a moment of your choice once more, oldest first.</p>
    <Problems errors={replay?.errors ?? []} detail={replay?.detail} />
    <PostForm action={href("/endpoints", e.id, "/replay")} aria-label="Replay failed deliveries">
      <div class="grid">
        <div class="row">
          <label for="replay-window">Failed since</label>
          <select id="replay-window" name="window">
            <option value="1h">1 hour ago</option>
            <option value="24h" selected>
              24 hours ago
            </option>
            <option value="7d">7 days ago</option>
            <option value="30d">30 days ago</option>
          </select>
        </div>
        <div class="row">
          <label for="replay-since">
            Or since a date and time (<span data-tz-name>UTC</span>)
          </label>
          <input type="datetime-local" id="replay-since" name="since" />
          <input type="hidden" name="since_tz" value="" data-tz-for="replay-since" />
        </div>
      </div>
      <button type="submit">Replay failed deliveries</button>
    </PostForm>
  </section>
);

export const EndpointPage: FC<EndpointPageProps> = (p) => {
  const e = p.endpoint;
  const status = ENDPOINT_STATUS[e.status];
  const circuit = circuitStateOf(e, p.now);
  const circuitBadge = e.status === "disabled" ? null : CIRCUIT_BADGE[circuit];
  return (
    <>
      <p>
        <a href={href()}>← All endpoints</a>
      </p>
      <h1 class="wrap">{e.url}</h1>
      <Flash notice={p.notice} problem={p.problem} />
      <section class="card" aria-labelledby="overview-heading">
        <h2 id="overview-heading" class="item-head">
          <span>Overview</span> <Badge tone={status.tone}>{status.label}</Badge>
          {circuitBadge && <Badge tone={circuitBadge.tone}>{circuitBadge.label}</Badge>}
        </h2>
        {e.description && <p class="wrap">{e.description}</p>}
        {e.status === "paused" && <p>Paused: nothing is sent. Events that happen meanwhile are not kept for this endpoint; deliveries already waiting go out when you resume.</p>}
        {e.status === "disabled" && (
          <p>
            Disabled after failing for a long time{e.disabledReason ? ` (${e.disabledReason})` : ""}. Events are kept as failed deliveries: fix your system, re-enable, then
            replay them below.
          </p>
        )}
        {circuitBadge && <CircuitNotice e={e} state={circuit} />}
        <StatusActions e={e} readOnly={p.readOnly} />
        <details>
          <summary>Settings</summary>
          <SettingsFacts e={e} />
        </details>
      </section>
      <SecretSection e={e} secrets={p.secrets} readOnly={p.readOnly} />
      <TestSection e={e} catalog={p.catalog} readOnly={p.readOnly} test={p.test} />
      <ActivitySection e={e} stats={p.stats} activity={p.activity} />
      <LogSection e={e} catalog={p.catalog} log={p.log} now={p.now} />
      {!p.readOnly && <ReplaySection e={e} replay={p.replay} />}
    </>
  );
};
