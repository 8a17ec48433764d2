// Instances: health, last contact (the last sync, even a failed one), staleness (the
// data, from the last successful sync, older than twice the poll interval; decided by
// the server: /api/health/instances) and the last error.

import { getJSON } from "../lib/api.js";
import { duration, el, table, when } from "../lib/dom.js";

const REFRESH_MS = 10000;

function rowOf(row) {
  return el("tr", { "data-instance": row.name },
    el("td", {}, el("a", { href: `#/status?instance=${encodeURIComponent(row.name)}` }, row.name)),
    el("td", {}, row.adapter),
    el("td", {}, el("span", { class: `health ${row.healthy ? "ok" : "down"}` }, row.healthy ? "healthy" : "unhealthy")),
    el("td", {}, when(row.last_sync_at)),
    el("td", {}, row.poll_interval_seconds === null ? "-" : `every ${duration(row.poll_interval_seconds)}`),
    el("td", { title: row.last_observed_at ? `data from ${row.last_observed_at}` : "no data yet" },
      row.stale ? el("span", { class: "health stale" }, "stale") : "fresh"),
    // a healthy instance's message is what its health check said (e.g. "3 cron jobs"), not an error
    el("td", { class: row.healthy ? "muted wrap" : "bad wrap" }, row.error || "-"));
}

export function render(box) {
  const holder = el("div", {}, el("p", { class: "muted" }, "loading..."));
  box.append(el("h2", {}, "Instances"),
    el("p", { class: "muted" }, "An instance's data is stale when its last successful sync is older than twice its poll interval: what is shown of its jobs may be out of date."),
    holder);
  async function load() {
    const rows = await getJSON("/api/health/instances");
    holder.replaceChildren(table(["Instance", "Tool", "Health", "Last contact", "Poll", "Data", "Error or health message"],
      rows.map(rowOf), "no instances (see `unifier apply`)"));
  }
  const fail = (error) => holder.replaceChildren(el("p", { class: "bad" }, error.message));
  load().catch(fail);
  const timer = setInterval(() => load().catch(fail), REFRESH_MS);
  return () => clearInterval(timer);
}
