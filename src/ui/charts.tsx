/**
 * @module Charts as server-rendered SVG (hono/jsx), shared by the tenant portal and the
 * operator console: no library, no script, nothing to serve, nothing the CSP must allow
 * (docs/charts.md says why). Colours are SVG presentation attributes, not `style`
 * attributes, so a CSP without 'unsafe-inline' styles renders them; the layout classes
 * live in CHART_CSS (src/ui/chart-css.ts).
 *
 * Each chart is a `<figure>`: a caption, the SVG as one image (`role="img"`) whose
 * `aria-label` sums it up, a legend in text, and the figures as a table in `<details>`
 * for screen readers and copying. Failed deliveries are hatched, not only red; the p95
 * line is dashed with square marks, the p50 line solid with round ones.
 */
import type { Child, FC } from "hono/jsx";
import { CHART_RANGES, HOUR_MS, type ChartRange, type HourlySeries } from "../domain/hourly-series";

// The drawing's own units; the SVG scales to the width of its box (width 100 %). Narrow on
// purpose: at phone width the scale is about 1, so 12-unit text stays about 11 px.
const W = 320;
const H = 180;
const PAD = { left: 42, right: 8, top: 18, bottom: 34 };
const PLOT_W = W - PAD.left - PAD.right;
const PLOT_H = H - PAD.top - PAD.bottom;
const FONT = 12;

// Contrast against white: text 5.9:1, every mark at least 3:1 (WCAG 1.4.11).
const COLOURS = {
  text: "#5b6477",
  axis: "#5b6477",
  grid: "#dfe3ea",
  delivered: "#2454d6",
  failed: "#b3261e",
  p50: "#2454d6",
  p95: "#8a4b00",
} as const;

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** Rounds drawing coordinates so the markup stays short. */
const r2 = (n: number): number => Math.round(n * 100) / 100;

const pad2 = (n: number): string => String(n).padStart(2, "0");

/** "2026-11-23 13:00 UTC" */
function utcHour(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** "per hour" / "per 6 hours" */
function perBucket(bucketHours: number): string {
  return bucketHours === 1 ? "per hour" : `per ${bucketHours} hours`;
}

/** "from 2026-11-23 13:00 to 2026-11-24 13:00 UTC" */
function spanText(series: HourlySeries): string {
  const first = series.starts[0] ?? 0;
  const end = (series.starts.at(-1) ?? first) + series.bucketHours * HOUR_MS;
  return `from ${utcHour(first).slice(0, -4)} to ${utcHour(end)}`;
}

/** The top of the value axis: 1, 2 or 5 times a power of ten, at least `max` and `floor`. */
function niceCeiling(max: number, floor = 1): number {
  const target = Math.max(max, floor);
  const power = 10 ** Math.floor(Math.log10(target));
  for (const m of [1, 2, 5, 10]) if (m * power >= target) return m * power;
  return 10 * power;
}

/** Axis numbers: whole counts, "120k" past 100 000 so the label fits the margin. */
function axisNumber(n: number): string {
  return n >= 100_000 ? `${r2(n / 1000)}k` : String(r2(n));
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

/**
 * A share as "97.5 %": rounded down, so any failure shows below 100 %, and "100 %" or
 * "0 %" without a decimal. The portal's figures use it too, so a chart and the numbers
 * beside it never disagree.
 * @example percentText(0.9996) // "99.9 %"
 */
export function percentText(rate: number): string {
  const tenths = Math.floor(rate * 1000 + 1e-9);
  return `${tenths % 10 === 0 ? tenths / 10 : (tenths / 10).toFixed(1)} %`;
}

/** Delivered among finished deliveries, or null with none. */
function successRate(delivered: number, failed: number): string | null {
  const done = delivered + failed;
  return done === 0 ? null : percentText(delivered / done);
}

/**
 * Time labels: every 6 hours ("18:00") over a day or two, else every midnight, placed at
 * that instant even when it falls inside a bucket.
 */
function timeTicks(series: HourlySeries): { x: number; label: string }[] {
  const first = (series.starts[0] ?? 0) / HOUR_MS;
  const span = series.starts.length * series.bucketHours;
  const ticks: { x: number; label: string }[] = [];
  let month = -1;
  for (let h = 0; h < span; h++) {
    const d = new Date((first + h) * HOUR_MS);
    const hour = d.getUTCHours();
    if (span <= 48 ? hour % 6 !== 0 : hour !== 0) continue;
    // Days as "Nov 23", "24", "25": the month only where it starts, so seven labels fit.
    const day = d.getUTCMonth() === month ? String(d.getUTCDate()) : `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}`;
    month = d.getUTCMonth();
    ticks.push({ x: PAD.left + (h / span) * PLOT_W, label: span <= 48 ? `${pad2(hour)}:00` : day });
  }
  return ticks;
}

/** A chart-local id for the hatch pattern, so two charts on one page never share one. */
function patternId(title: string): string {
  return `hatch-${title.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "")}`;
}

/** The grid, the value axis and the time axis shared by both charts. */
const Axes: FC<{ series: HourlySeries; ceiling: number; unit: string }> = ({ series, ceiling, unit }) => {
  const ticks = [0, ceiling / 2, ceiling].filter((v, i) => i !== 1 || unit === "ms" || Number.isInteger(v));
  const baseline = PAD.top + PLOT_H;
  return (
    <g>
      {ticks.map((v) => {
        const y = r2(baseline - (v / ceiling) * PLOT_H);
        return (
          <g>
            <line x1={PAD.left} x2={W - PAD.right} y1={y} y2={y} stroke={v === 0 ? COLOURS.axis : COLOURS.grid} stroke-width="1" />
            <text x={PAD.left - 4} y={r2(y + FONT / 3)} text-anchor="end" font-size={FONT} fill={COLOURS.text}>
              {axisNumber(v)}
            </text>
          </g>
        );
      })}
      <text x={PAD.left - 4} y={PAD.top - 7} text-anchor="end" font-size={FONT} fill={COLOURS.text}>
        {unit}
      </text>
      {timeTicks(series).map((t) => (
        <g>
          <line x1={r2(t.x)} x2={r2(t.x)} y1={baseline} y2={baseline + 4} stroke={COLOURS.axis} stroke-width="1" />
          <text x={r2(t.x)} y={baseline + 15} text-anchor="middle" font-size={FONT} fill={COLOURS.text}>
            {t.label}
          </text>
        </g>
      ))}
      <text x={W - PAD.right} y={H - 3} text-anchor="end" font-size={FONT} fill={COLOURS.text}>
        {`Time (UTC), ${perBucket(series.bucketHours)}`}
      </text>
    </g>
  );
};

/** A small legend mark drawn like the chart's own. */
const Swatch: FC<{ kind: SwatchKind }> = ({ kind }) => (
  <svg class="chart-swatch" viewBox="0 0 16 12" width="16" height="12" aria-hidden="true" focusable="false">
    {kind === "delivered" && <rect x="1" y="1" width="14" height="10" fill={COLOURS.delivered} />}
    {kind === "failed" && (
      <g>
        <rect x="1" y="1" width="14" height="10" fill={COLOURS.failed} />
        <path d="M1 9 L9 1 M5 11 L15 1 M11 11 L15 7" stroke="#fff" stroke-width="1.5" />
      </g>
    )}
    {kind === "p50" && (
      <g>
        <line x1="0" x2="16" y1="6" y2="6" stroke={COLOURS.p50} stroke-width="2" />
        <circle cx="8" cy="6" r="2.5" fill={COLOURS.p50} />
      </g>
    )}
    {kind === "p95" && (
      <g>
        <line x1="0" x2="16" y1="6" y2="6" stroke={COLOURS.p95} stroke-width="2" stroke-dasharray="4 2" />
        <rect x="5.5" y="3.5" width="5" height="5" fill={COLOURS.p95} />
      </g>
    )}
  </svg>
);

type SwatchKind = "delivered" | "failed" | "p50" | "p95";

interface ChartFigureProps {
  title: string;
  summary: string;
  empty: boolean;
  picture: Child;
  legend: { swatch?: SwatchKind; text: string }[];
  series: HourlySeries;
  /** The table's columns after the bucket's start, and each bucket's cells. */
  columns: string[];
  cells: (i: number) => (string | number)[];
  total?: (string | number)[];
}

/** The frame both charts share: caption, picture or empty state, legend, and the figures as a table. */
const ChartFigure: FC<ChartFigureProps> = (p) => (
  <figure class="chart">
    <figcaption>{p.title}</figcaption>
    {p.empty ? (
      <p class="chart-empty">No deliveries in this period.</p>
    ) : (
      <>
        <svg class="chart-svg" viewBox={`0 0 ${W} ${H}`} width="100%" role="img" aria-label={p.summary}>
          {p.picture}
        </svg>
        <ul class="chart-legend">
          {p.legend.map((item) => (
            <li>
              {item.swatch && <Swatch kind={item.swatch} />} {item.text}
            </li>
          ))}
        </ul>
        <details class="chart-table">
          <summary>Figures as a table</summary>
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Start (UTC)</th>
                  {p.columns.map((c) => (
                    <th scope="col">{c}</th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {p.series.starts.map((start, i) => (
                  <tr>
                    <th scope="row">{utcHour(start).slice(0, -4)}</th>
                    {p.cells(i).map((v) => (
                      <td>{v}</td>
                    ))}
                  </tr>
                ))}
              </tbody>
              {p.total && (
                <tfoot>
                  <tr>
                    <th scope="row">Total</th>
                    {p.total.map((v) => (
                      <td>{v}</td>
                    ))}
                  </tr>
                </tfoot>
              )}
            </table>
          </div>
        </details>
      </>
    )}
  </figure>
);

/**
 * Delivered and failed deliveries per bucket as stacked bars (failed on top, hatched).
 * An all-zero series shows "No deliveries in this period." instead of a chart.
 * @param props.series from `hourlySeries`
 * @param props.title the caption, e.g. "Deliveries"
 * @example <VolumeChart series={hourlySeries(rows, from, to)} title="Deliveries" />
 */
export const VolumeChart: FC<{ series: HourlySeries; title: string }> = ({ series, title }) => {
  const delivered = sum(series.delivered);
  const failed = sum(series.failed);
  const rate = successRate(delivered, failed);
  const summary = `${title}, ${perBucket(series.bucketHours)}, ${spanText(series)}: ${delivered} delivered, ${failed} failed${rate ? `, ${rate} succeeded` : ""}.`;
  const ceiling = niceCeiling(Math.max(0, ...series.delivered.map((d, i) => d + (series.failed[i] ?? 0))));
  const slot = PLOT_W / Math.max(1, series.starts.length);
  const barW = r2(slot * 0.75);
  const baseline = PAD.top + PLOT_H;
  const height = (n: number): number => r2((n / ceiling) * PLOT_H);
  // Each part above zero is at least one unit tall, so a single failure beside thousands of
  // deliveries never vanishes; the stack's top stays where the total puts it.
  const stack = (d: number, f: number): { dh: number; fh: number } => {
    const total = Math.max(height(d + f), (d > 0 ? 1 : 0) + (f > 0 ? 1 : 0));
    const dh = d > 0 ? Math.min(Math.max(1, height(d)), total - (f > 0 ? 1 : 0)) : 0;
    return { dh, fh: r2(total - dh) };
  };
  const hatch = patternId(title);
  return (
    <ChartFigure
      title={title}
      summary={summary}
      empty={delivered + failed === 0}
      picture={
        <>
          <defs>
            <pattern id={hatch} patternUnits="userSpaceOnUse" width="4" height="4" patternTransform="rotate(45)">
              <rect width="4" height="4" fill={COLOURS.failed} />
              <line x1="0" y1="0" x2="0" y2="4" stroke="#fff" stroke-width="1.5" />
            </pattern>
          </defs>
          <Axes series={series} ceiling={ceiling} unit="count" />
          {series.starts.map((start, i) => {
            const d = series.delivered[i] ?? 0;
            const f = series.failed[i] ?? 0;
            const x = r2(PAD.left + i * slot + (slot - barW) / 2);
            const { dh, fh } = stack(d, f);
            return (
              <g class="bar" data-start={new Date(start).toISOString()}>
                <title>{`${utcHour(start)}: ${d} delivered, ${f} failed`}</title>
                {d > 0 && <rect class="delivered" x={x} y={r2(baseline - dh)} width={barW} height={dh} fill={COLOURS.delivered} />}
                {f > 0 && <rect class="failed" x={x} y={r2(baseline - dh - fh)} width={barW} height={fh} fill={`url(#${hatch})`} stroke={COLOURS.failed} stroke-width="0.75" />}
              </g>
            );
          })}
        </>
      }
      legend={[{ swatch: "delivered", text: `Delivered: ${delivered}` }, { swatch: "failed", text: `Failed (hatched): ${failed}` }, ...(rate ? [{ text: `Succeeded: ${rate}` }] : [])]}
      series={series}
      columns={["Delivered", "Failed"]}
      cells={(i) => [series.delivered[i] ?? 0, series.failed[i] ?? 0]}
      total={[delivered, failed]}
    />
  );
};

/** Runs of consecutive non-null points, so a bucket without attempts breaks the line. */
function segments(points: readonly { x: number; y: number | null }[]): { x: number; y: number }[][] {
  const runs: { x: number; y: number }[][] = [];
  let run: { x: number; y: number }[] = [];
  for (const p of points) {
    if (p.y === null) {
      if (run.length) runs.push(run);
      run = [];
    } else run.push({ x: p.x, y: p.y });
  }
  if (run.length) runs.push(run);
  return runs;
}

const msText = (v: number | null): string => (v === null ? "—" : `${v} ms`);

/**
 * Attempt latency per bucket: the p50 (solid, round marks) and p95 (dashed, square marks)
 * lines. Percentiles are the upper bounds of latency-histogram buckets ("at most").
 * A series without timed attempts shows "No deliveries in this period."
 * @param props.series from `hourlySeries`
 * @param props.title the caption, e.g. "Latency"
 * @example <LatencyChart series={series} title="Latency" />
 */
export const LatencyChart: FC<{ series: HourlySeries; title: string }> = ({ series, title }) => {
  const p50s = series.p50.filter((v): v is number => v !== null);
  const p95s = series.p95.filter((v): v is number => v !== null);
  const ceiling = niceCeiling(Math.max(0, ...p95s, ...p50s), 10);
  const slot = PLOT_W / Math.max(1, series.starts.length);
  const baseline = PAD.top + PLOT_H;
  const y = (v: number): number => r2(baseline - (v / ceiling) * PLOT_H);
  const x = (i: number): number => r2(PAD.left + i * slot + slot / 2);
  const range = (vs: number[]): string => (Math.min(...vs) === Math.max(...vs) ? `${vs[0]} ms` : `${Math.min(...vs)} to ${Math.max(...vs)} ms`);
  const summary = p95s.length
    ? `${title}, ${perBucket(series.bucketHours)}, ${spanText(series)}: p50 ${range(p50s)}, p95 ${range(p95s)}; highest p95 ${Math.max(...p95s)} ms.`
    : `${title}: no deliveries in this period.`;
  const line = (values: readonly (number | null)[], colour: string, dashed: boolean, cls: string) =>
    segments(values.map((v, i) => ({ x: x(i), y: v === null ? null : y(v) }))).map((run) =>
      run.length > 1 ? (
        <polyline class={cls} points={run.map((p) => `${p.x},${p.y}`).join(" ")} fill="none" stroke={colour} stroke-width="2" stroke-linejoin="round" stroke-dasharray={dashed ? "5 3" : undefined} />
      ) : null,
    );
  return (
    <ChartFigure
      title={title}
      summary={summary}
      empty={p95s.length === 0}
      picture={
        <>
          <Axes series={series} ceiling={ceiling} unit="ms" />
          {line(series.p95, COLOURS.p95, true, "p95")}
          {line(series.p50, COLOURS.p50, false, "p50")}
          {series.starts.map((start, i) => {
            const p50 = series.p50[i] ?? null;
            const p95 = series.p95[i] ?? null;
            if (p50 === null && p95 === null) return null;
            return (
              <g class="point" data-start={new Date(start).toISOString()}>
                <title>{`${utcHour(start)}: p50 ${msText(p50)}, p95 ${msText(p95)}`}</title>
                {p95 !== null && <rect class="p95" x={r2(x(i) - 2.5)} y={r2(y(p95) - 2.5)} width="5" height="5" fill={COLOURS.p95} />}
                {p50 !== null && <circle class="p50" cx={x(i)} cy={y(p50)} r="2.5" fill={COLOURS.p50} />}
              </g>
            );
          })}
        </>
      }
      legend={[
        { swatch: "p50", text: "p50 (solid): half of attempts took at most this" },
        { swatch: "p95", text: "p95 (dashed): 95 % took at most this" },
      ]}
      series={series}
      columns={["p50 (ms)", "p95 (ms)"]}
      cells={(i) => [series.p50[i] ?? "—", series.p95[i] ?? "—"]}
    />
  );
};

const RANGE_LABELS: Record<ChartRange, string> = { "24h": "24 h", "7d": "7 days" };

/**
 * Links between the chart ranges; the current one is marked `aria-current`.
 * @param props.current the range shown
 * @param props.hrefFor the link of each range, e.g. `(r) => \`?range=${r}\``
 * @example <RangeSwitch current="24h" hrefFor={(r) => `?range=${r}`} />
 */
export const RangeSwitch: FC<{ current: ChartRange; hrefFor: (r: ChartRange) => string }> = ({ current, hrefFor }) => (
  <p class="range-switch">
    <span class="muted">Show: </span>
    {CHART_RANGES.map((r, i) => (
      <>
        {i > 0 && <span aria-hidden="true"> | </span>}
        <a href={hrefFor(r)} aria-current={r === current ? "true" : undefined}>
          {RANGE_LABELS[r]}
        </a>
      </>
    ))}
  </p>
);
