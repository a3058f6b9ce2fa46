/**
 * The dashboard's stylesheet and script, served from the package as
 * `/assets/dashboard.css` and `/assets/dashboard.js`: no build step, no
 * framework, nothing inline (the Content-Security-Policy forbids it).
 *
 * @module
 */

/** The stylesheet. */
export const DASHBOARD_CSS = `
:root { color-scheme: light dark; --fg: #1b1f24; --bg: #fff; --muted: #59636e;
  --line: #d1d9e0; --accent: #0969da; --ok: #1a7f37; --bad: #cf222e;
  --run: #9a6700; --idle: #818b98; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --bg: #0d1117;
  --muted: #9198a1; --line: #3d444d; --accent: #4493f8; --ok: #3fb950;
  --bad: #f85149; --run: #d29922; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--fg);
  background: var(--bg); }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible,
select:focus-visible, pre:focus-visible { outline: 3px solid var(--accent);
  outline-offset: 2px; }
.skip { position: absolute; left: -9999px; }
.skip:focus { left: 1rem; top: 0.5rem; background: var(--bg); padding: 0.3rem; }
header { display: flex; align-items: center; gap: 1.5rem; padding: 0.6rem 1.2rem;
  border-bottom: 1px solid var(--line); }
header .brand { font-weight: 600; }
header nav { display: flex; gap: 1rem; flex: 1; }
header form { margin: 0; }
main { padding: 1rem 1.2rem 3rem; max-width: 80rem; }
h1 { font-size: 1.5rem; margin: 0.4rem 0 0.8rem; overflow-wrap: anywhere; }
h2 { font-size: 1.15rem; margin: 1.6rem 0 0.5rem; }
button { font: inherit; padding: 0.3rem 0.8rem; border: 1px solid var(--line);
  border-radius: 6px; background: transparent; color: inherit; cursor: pointer; }
button.danger { border-color: var(--bad); color: var(--bad); }
input, select { font: inherit; padding: 0.25rem 0.4rem; border: 1px solid var(--line);
  border-radius: 6px; background: var(--bg); color: inherit; }
label { display: inline-flex; flex-direction: column; gap: 0.15rem;
  font-size: 0.85rem; color: var(--muted); }
form.filters { display: flex; flex-wrap: wrap; gap: 0.8rem; align-items: end;
  margin: 0.8rem 0; }
form.inline { display: inline; margin: 0 0.4rem 0 0; }
.counts { display: flex; flex-wrap: wrap; gap: 0.4rem 1rem; margin: 0; padding: 0;
  list-style: none; }
.counts a[aria-current] { font-weight: 700; }
table { border-collapse: collapse; width: 100%; }
caption { text-align: left; font-weight: 600; padding: 0.4rem 0; }
th, td { text-align: left; padding: 0.35rem 0.6rem; border-bottom: 1px solid var(--line);
  vertical-align: top; }
td code, p code { font-size: 0.85rem; }
[data-status] { font-weight: 600; }
[data-status="succeeded"] { color: var(--ok); }
[data-status="failed"], [data-status="canceled"] { color: var(--bad); }
[data-status="running"] { color: var(--run); }
[data-status="pending"], [data-status="sleeping"] { color: var(--idle); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
pre { background: color-mix(in srgb, var(--line) 25%, transparent); padding: 0.6rem;
  border-radius: 6px; overflow: auto; max-height: 30rem; white-space: pre-wrap;
  overflow-wrap: anywhere; }
.note, .none { color: var(--muted); }
.error-message { color: var(--bad); }
.actions { display: flex; gap: 0.5rem; margin: 0.8rem 0; }
ol.timeline { list-style: none; padding: 0; margin: 0; }
ol.timeline li { display: grid; grid-template-columns: minmax(8rem, 16rem) 6rem 6rem 1fr;
  gap: 0.6rem; align-items: center; padding: 0.3rem 0; border-bottom: 1px solid var(--line);
  font-weight: 400; }
ol.timeline li .step-name { font-weight: 600; overflow-wrap: anywhere; }
ol.timeline li .kind, ol.timeline li .duration { color: var(--muted); font-size: 0.85rem; }
ol.timeline li .step-error { grid-column: 1 / -1; margin: 0; font-size: 0.85rem;
  color: var(--bad); }
svg.bar { width: 100%; height: 0.8rem; display: block; }
svg.bar .track { fill: color-mix(in srgb, var(--line) 40%, transparent); }
svg.bar .span { fill: var(--ok); }
li[data-status="failed"] svg.bar .span { fill: var(--bad); }
li[data-status="running"] svg.bar .span { fill: var(--run); }
.login { max-width: 22rem; margin: 4rem auto; display: flex; flex-direction: column;
  gap: 0.8rem; }
.login label { font-size: 1rem; color: var(--fg); }
[role="alert"] { color: var(--bad); font-weight: 600; }
.pager { margin: 1rem 0; display: flex; gap: 1rem; }
`;

/**
 * The script: opens an `EventSource` on a page whose `<main>` has a
 * `data-events` URL and, on each `change` event, fetches the page again
 * and swaps in each element marked `data-live`, so that statuses, the
 * step timeline and the buttons follow the run without a reload.
 */
export const DASHBOARD_JS = `"use strict";
(function () {
  var main = document.querySelector("main[data-events]");
  if (!main || typeof EventSource !== "function") return;
  var busy = false;
  var again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(location.href, { headers: { Accept: "text/html" }, credentials: "same-origin" })
      .then(function (response) {
        if (response.redirected || response.status === 401) {
          location.reload();
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (text) {
        if (text === null) return;
        var next = new DOMParser().parseFromString(text, "text/html");
        var parts = next.querySelectorAll("[data-live]");
        for (var i = 0; i < parts.length; i++) {
          var name = parts[i].getAttribute("data-live");
          var current = document.querySelector('[data-live="' + name + '"]');
          if (!current) continue;
          if (current.contains(document.activeElement) &&
              current.outerHTML === parts[i].outerHTML) continue;
          current.replaceWith(document.importNode(parts[i], true));
        }
        var title = next.querySelector("title");
        if (title) document.title = title.textContent;
      })
      .catch(function () {})
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }
  var source = new EventSource(main.getAttribute("data-events"));
  source.addEventListener("change", refresh);
  window.addEventListener("pagehide", function () { source.close(); });
})();
`;
