/**
 * @module The console's stylesheet and script: the portal's, served again under /console/
 * (the CSP allows only `'self'`), plus the few rules of the console's wider tables.
 */
import { PORTAL_CSS, PORTAL_JS } from "../portal/assets";

const CONSOLE_ONLY_CSS = `
header.top .bar,main,footer{max-width:1240px}
.figures{display:grid;grid-template-columns:repeat(auto-fit,minmax(9rem,1fr));gap:.75rem;margin:0 0 1rem}
.figures div{background:var(--card);border:1px solid var(--line);border-radius:var(--radius);padding:.6rem .8rem}
.figures dt{color:var(--muted);font-size:.85rem}
.figures dd{margin:0;font-size:1.35rem;font-weight:700}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td .badge{margin:0 .25rem .25rem 0}
.inline-form{display:inline;margin:0}
.filters{display:grid;gap:0 1rem;grid-template-columns:repeat(auto-fit,minmax(min(100%,12rem),1fr));align-items:end}
.filters .row{margin-bottom:.75rem}
.link-out{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}
.link-out code{background:#f1f3f6;padding:.3rem .5rem;border-radius:4px;overflow-wrap:anywhere;min-width:0;flex:1 1 20rem}

@media (max-width:699px){table.stack thead{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
table.stack tr{display:block;border-top:1px solid var(--line);padding:.5rem 0}
table.stack td{display:flex;gap:.75rem;border:0;padding:.15rem 0;overflow-wrap:anywhere;min-width:0}
table.stack td::before{content:attr(data-label);color:var(--muted);font-size:.85rem;flex:0 0 7.5rem}
table.stack td.num{text-align:left}}
`;

export const CONSOLE_CSS = PORTAL_CSS + CONSOLE_ONLY_CSS;
export const CONSOLE_JS = PORTAL_JS;
