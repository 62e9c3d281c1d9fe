/**
 * @module The charts' stylesheet rules (src/ui/charts.tsx), for the portal's and the
 * console's stylesheets to append: served from the Worker's own assets like the rest, so a
 * CSP with `style-src 'self'` needs nothing more. Colours are on the SVG itself.
 */

export const CHART_CSS = `
.charts{display:grid;gap:1rem;margin-top:1rem;grid-template-columns:repeat(auto-fit,minmax(min(100%,20rem),1fr))}
.chart{margin:0;min-width:0}
.chart figcaption{font-weight:600;margin:0 0 .25rem}
.chart-svg{display:block;width:100%;height:auto;max-width:40rem}
.chart-legend{list-style:none;display:flex;flex-wrap:wrap;gap:.25rem 1rem;margin:.25rem 0;padding:0;font-size:.875rem}
.chart-legend li{display:flex;align-items:center;gap:.35rem}
.chart-swatch{flex:none}
.chart-empty{color:#5b6477;border:1px dashed #b9c0cc;border-radius:6px;padding:1.5rem 1rem;text-align:center}
.chart-table{font-size:.875rem;margin:.25rem 0}
.chart-table th[scope=row]{color:inherit;font-weight:400;white-space:nowrap}
.chart-table td{font-variant-numeric:tabular-nums}
.range-switch{margin:0 0 .75rem}
.range-switch a[aria-current=true]{font-weight:700;color:inherit;text-decoration:none}
`;
