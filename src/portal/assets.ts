/**
 * @module The portal's stylesheet and its one small script, served as files from
 * /portal/assets/ so the CSP can allow `'self'` and forbid every inline style and script.
 * The pages work without the script; it only formats times in the viewer's zone, sends
 * that zone with date filters, shows copy buttons, and tidies the endpoint form.
 */
import { CHART_CSS } from "../ui/chart-css";

export const PORTAL_CSS = `
:root{--fg:#1d2433;--muted:#5b6477;--line:#dfe3ea;--bg:#f6f7f9;--card:#fff;--accent:#2454d6;--accent-fg:#fff;
--ok:#106b3a;--ok-bg:#e3f5ea;--bad:#a4161a;--bad-bg:#fde8e8;--wait:#7a4b00;--wait-bg:#fff3d6;--off:#4a5263;--off-bg:#eceef2;
--radius:8px;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
*{box-sizing:border-box}
body{margin:0;min-width:0}
a{color:var(--accent)}
a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,textarea:focus-visible,summary:focus-visible{outline:3px solid #8fb0ff;outline-offset:2px}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.skip{position:absolute;left:-999px;top:0;background:var(--card);padding:.5rem 1rem;z-index:2}
.skip:focus{left:.5rem}
header.top{background:var(--card);border-bottom:1px solid var(--line)}
header.top .bar{max-width:1040px;margin:0 auto;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:.5rem 1.25rem;align-items:center}
.brand{font-weight:700;margin-right:auto}
nav ul{list-style:none;display:flex;gap:1rem;margin:0;padding:0;flex-wrap:wrap}
nav a{text-decoration:none;font-weight:500;padding:.25rem 0;border-bottom:2px solid transparent}
nav a[aria-current=page]{border-color:var(--accent)}
main{max-width:1040px;margin:0 auto;padding:1rem}
footer{max-width:1040px;margin:0 auto;padding:1rem;color:var(--muted);font-size:.875rem}
h1{font-size:1.5rem;line-height:1.25;margin:.5rem 0 1rem;overflow-wrap:anywhere}
h2{font-size:1.15rem;margin:0 0 .75rem}
h3{font-size:1rem;margin:1rem 0 .5rem}
p{margin:.5rem 0}
.muted{color:var(--muted)}
.wrap{overflow-wrap:anywhere;word-break:break-word}
.card{background:var(--card);border:1px solid var(--line);border-radius:var(--radius);padding:1rem;margin:0 0 1rem}
.banner{max-width:1040px;margin:0 auto;padding:.5rem 1rem;background:var(--wait-bg);color:var(--wait);font-weight:500}
.notice{border-left:4px solid var(--ok);background:var(--ok-bg);padding:.6rem .8rem;border-radius:4px;margin:0 0 1rem}
.problem{border-left:4px solid var(--bad);background:var(--bad-bg);padding:.6rem .8rem;border-radius:4px;margin:0 0 1rem}
.problem ul{margin:.25rem 0 0;padding-left:1.25rem}
.field-error{color:var(--bad);font-size:.9rem;margin:.25rem 0 0}
.badge{display:inline-block;border-radius:999px;padding:.05rem .6rem;font-size:.85rem;font-weight:600;white-space:nowrap}
.tone-ok{background:var(--ok-bg);color:var(--ok)}
.tone-bad{background:var(--bad-bg);color:var(--bad)}
.tone-wait{background:var(--wait-bg);color:var(--wait)}
.tone-off{background:var(--off-bg);color:var(--off)}
.actions{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;margin:.75rem 0}
.actions form{margin:0}
button,.button{font:inherit;font-weight:600;border-radius:6px;border:1px solid var(--accent);background:var(--accent);color:var(--accent-fg);padding:.45rem .9rem;cursor:pointer;text-decoration:none;display:inline-block;line-height:1.4}
button.secondary,.button.secondary{background:var(--card);color:var(--accent)}
button.danger,.button.danger{background:var(--bad);border-color:var(--bad);color:#fff}
button.link{background:none;border:0;color:var(--accent);padding:0;font-weight:500;text-decoration:underline}
label{display:block;font-weight:600;margin:0 0 .25rem}
.hint{display:block;color:var(--muted);font-size:.875rem;font-weight:400;margin:.15rem 0 .35rem}
input[type=text],input[type=url],input[type=number],input[type=password],input[type=datetime-local],select,textarea{font:inherit;width:100%;max-width:100%;padding:.45rem .55rem;border:1px solid #b9c0cc;border-radius:6px;background:#fff;color:var(--fg)}
textarea{min-height:5rem;font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.9rem}
.row{margin:0 0 1rem}
.grid{display:grid;gap:0 1rem;grid-template-columns:repeat(auto-fit,minmax(min(100%,14rem),1fr))}
fieldset{border:1px solid var(--line);border-radius:var(--radius);margin:0 0 1rem;padding:.75rem 1rem;min-width:0}
legend{font-weight:700;padding:0 .25rem}
.check{display:flex;gap:.5rem;align-items:flex-start;font-weight:400;margin:.3rem 0}
.check input{margin-top:.3rem;flex:none}
.check code{overflow-wrap:anywhere}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.875rem}
pre{background:#f1f3f6;border:1px solid var(--line);border-radius:6px;padding:.75rem;margin:.25rem 0 .75rem;white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-word;max-height:28rem;overflow:auto}
dl.facts{display:grid;grid-template-columns:minmax(7rem,max-content) 1fr;gap:.35rem 1rem;margin:0}
dl.facts dt{color:var(--muted)}
dl.facts dd{margin:0;overflow-wrap:anywhere;min-width:0}
.list{list-style:none;margin:0;padding:0}
.list>li{border-top:1px solid var(--line);padding:.75rem 0}
.list>li:first-child{border-top:0}
.list>li>h3:first-child{margin-top:0}
.item-head{display:flex;flex-wrap:wrap;gap:.25rem .75rem;align-items:baseline}
.item-head a{font-weight:600;overflow-wrap:anywhere;min-width:0}
.stats{display:grid;grid-template-columns:repeat(auto-fit,minmax(8rem,1fr));gap:.75rem;margin:0}
.stats div{background:var(--bg);border-radius:6px;padding:.5rem .75rem}
.stats dt{color:var(--muted);font-size:.85rem}
.stats dd{margin:0;font-size:1.2rem;font-weight:700}
.table-wrap{overflow-x:auto}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.45rem .5rem;border-top:1px solid var(--line);vertical-align:top}
th{font-size:.85rem;color:var(--muted);font-weight:600}
.pager{display:flex;gap:1rem;margin-top:.75rem}
.secret{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}
.secret code{background:#f1f3f6;padding:.3rem .5rem;border-radius:4px;overflow-wrap:anywhere;min-width:0}
.empty{text-align:center;padding:2rem 1rem}
.empty p{max-width:32rem;margin:.5rem auto}
.result{border:1px solid var(--line);border-radius:var(--radius);padding:.75rem 1rem;margin-top:1rem}
details summary{cursor:pointer;font-weight:600}
@media (min-width:700px){main{padding:1.5rem}h1{font-size:1.75rem}}
${CHART_CSS}`;

export const PORTAL_JS = `"use strict";
(function () {
  var fmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "your time zone";
  document.querySelectorAll("time[datetime]").forEach(function (t) {
    var d = new Date(t.getAttribute("datetime"));
    if (isNaN(d.getTime())) return;
    t.title = t.textContent;
    t.textContent = fmt.format(d);
  });
  document.querySelectorAll("[data-tz-name]").forEach(function (el) { el.textContent = zone; });

  // Date filters are typed in local time; send each one's UTC offset beside it.
  document.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("input[data-tz-for]").forEach(function (hidden) {
        var source = document.getElementById(hidden.getAttribute("data-tz-for"));
        var when = source && source.value ? new Date(source.value) : new Date();
        hidden.value = String(isNaN(when.getTime()) ? new Date().getTimezoneOffset() : when.getTimezoneOffset());
      });
    });
  });

  var status = document.getElementById("copy-status");
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (!source) return;
      var text = source.textContent || "";
      var done = function () {
        if (status) status.textContent = "Copied to the clipboard.";
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = "Copy"; }, 1500);
      };
      var fallback = function () {
        var range = document.createRange();
        range.selectNodeContents(source);
        var sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        try { if (document.execCommand("copy")) done(); } catch (e) { /* left selected for Ctrl+C */ }
      };
      if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(text).then(done, fallback);
      else fallback();
    });
  });

  // Ticking an event means "only the events I pick".
  var some = document.getElementById("events-some");
  document.querySelectorAll("input[data-picks]").forEach(function (box) {
    box.addEventListener("change", function () { if (box.checked && some) some.checked = true; });
  });

  // Show only the sign-in fields of the chosen kind.
  var auth = document.getElementById("auth_type");
  var showAuth = function () {
    document.querySelectorAll("[data-auth]").forEach(function (el) { el.hidden = el.getAttribute("data-auth") !== auth.value; });
  };
  if (auth) { auth.addEventListener("change", showAuth); showAuth(); }
})();
`;
