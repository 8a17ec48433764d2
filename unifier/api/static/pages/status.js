// Status across every tool: one row per job, searched, filtered, sorted and paged.
//
// The server does the work: /api/status?text=&tool=&instance=&state=&owner=&tag=&paused=
// &sort=&limit= answers one page, and the RFC 8288 `Link: <...>; rel="next"` header is the
// URL of the next one. The page shows what it is given, in the order given. The URL hash
// keeps the search as `q` (short, and what people type); the API calls it `text`.

import { getJSON, api, nextLink, query } from "../lib/api.js";
import { el, jobHref, runHref, scrollBox, stateBadge, when } from "../lib/dom.js";

export const PAGE_SIZE = 50;
const STATES = ["succeeded", "failed", "running", "queued", "cancelled", "skipped", "unknown"];
const SORTS = [  // the API's sort names (GET /api/status?sort=)
  ["job", "job URI"], ["name", "name"], ["state", "state"], ["last_run", "last run, newest first"],
  ["next_run", "next run, soonest first"], ["instance", "instance"],
];
const FILTERS = ["q", "tool", "instance", "state", "owner", "tag", "paused", "sort"];

function filtersFrom(params) {
  const filters = {};
  for (const key of FILTERS) if (params.get(key)) filters[key] = params.get(key);
  return filters;
}

// the hash's filters as the API's query parameters, for one page
function serverQuery(filters) {
  const { q, ...asked } = filters;
  return { ...asked, text: q, limit: PAGE_SIZE };
}

// one page of rows: {rows, next}; `next` is the server's URL of the following page, or null
export async function loadPage(filters, cursor) {
  const response = await api(cursor || `/api/status${query(serverQuery(filters))}`);
  return { rows: await response.json(), next: nextLink(response.headers.get("Link")) };
}

// a labelled field: the label names the control alone (not the control's options too)
function field(label, control, grow = false) {
  control.id = `filter-${control.name}`;
  return el("div", { class: grow ? "field grow" : "field" }, el("label", { for: control.id }, label), control);
}

function select(name, label, options, value) {
  return field(label, el("select", { name },
    el("option", { value: "" }, "any"),
    options.map(([v, text]) => el("option", { value: v, selected: v === value }, text))));
}

function controls(filters, instances, context) {
  const kinds = [...new Set(instances.map((i) => i.adapter))].sort();
  const form = el("form", { class: "filters", role: "search" },
    field("Search", el("input", { type: "search", name: "q", value: filters.q || "",
      placeholder: "job URI, name, owner or tag" }), true),
    select("tool", "Tool", kinds.map((k) => [k, k]), filters.tool),
    select("instance", "Instance", instances.map((i) => [i.name, i.name]), filters.instance),
    select("state", "State", [...STATES.map((s) => [s, s]), ["never", "never ran"]], filters.state),
    select("paused", "Paused", [["true", "paused"], ["false", "active"]], filters.paused),
    field("Sort", el("select", { name: "sort" },
      SORTS.map(([v, text]) => el("option", { value: v, selected: v === (filters.sort || "job") }, text)))),
    field("Owner", el("input", { name: "owner", value: filters.owner || "", size: 10 })),
    field("Tag", el("input", { name: "tag", value: filters.tag || "", size: 10 })),
    el("button", { type: "submit" }, "Apply"));
  const apply = () => {
    const values = {};
    for (const [key, value] of new FormData(form)) if (value && !(key === "sort" && value === "job")) values[key] = value;
    context.navigate(`#/status${query(values)}`);
  };
  form.addEventListener("submit", (event) => { event.preventDefault(); apply(); });
  for (const chooser of form.querySelectorAll("select")) chooser.addEventListener("change", apply);
  return form;
}

function toolLink(row) {
  return row.url ? el("a", { href: row.url, target: "_blank", rel: "noopener" }, `open in ${row.kind}`) : "-";
}

function rowOf(row, changed) {
  return el("tr", { "data-job": row.job, class: changed ? "changed" : false },
    el("td", { class: "job" }, el("a", { href: jobHref(row.job) }, row.job),
      row.name && !row.job.endsWith(`/${row.name}`) ? el("div", { class: "muted" }, row.name) : "",
      row.paused ? el("span", { class: "tag" }, "paused") : ""),
    el("td", { class: "state-cell" }, stateBadge(row.state)),
    el("td", {}, row.last_run_id ? el("a", { href: runHref(row.job, row.last_run_id), title: row.last_run_id },
      when(row.last_run_at)) : "-"),
    el("td", {}, when(row.next_run_at)),
    el("td", { class: "muted" }, row.schedule || "-"),
    el("td", row.instance_error ? { class: "bad", title: row.instance_error } : {},
      row.instance, row.instance_error ? " (error)" : ""),
    el("td", {}, row.owner || "-"),
    el("td", {}, toolLink(row)));
}

export function render(box, _match, context) {
  const filters = filtersFrom(context.params);
  const heading = el("h2", {}, "Status");
  const summary = el("p", { class: "muted", "aria-live": "polite" }, "loading...");
  const body = el("tbody");
  const pager = el("div", { class: "pager" });
  const controlsBox = el("div");
  box.append(heading, controlsBox, summary, scrollBox(el("table", { id: "status" },
    el("thead", {}, el("tr", {}, ["Job", "State", "Last run", "Next run", "Schedule", "Instance", "Owner", "Tool"]
      .map((h) => el("th", { scope: "col" }, h)))), body)), pager);

  const pages = [];  // where the pages before this one started (Previous): {cursor, offset}
  let cursor = null, offset = 0, current = null, stopped = false;

  async function show(changedJobs = new Set()) {
    const page = await loadPage(filters, cursor);
    if (stopped) return;
    current = page;
    body.replaceChildren(...page.rows.map((row) => rowOf(row, changedJobs.has(row.job))));
    if (!page.rows.length) body.append(el("tr", {}, el("td", { colspan: 8, class: "empty" }, "no job matches")));
    const first = offset + 1;
    summary.textContent = page.rows.length ? `jobs ${first}-${first + page.rows.length - 1}` : "";
    pager.replaceChildren(
      el("button", { type: "button", disabled: !pages.length, onclick: () => {
        ({ cursor, offset } = pages.pop());
        show();
      } }, "Previous"),
      el("button", { type: "button", disabled: !page.next, onclick: () => {
        pages.push({ cursor, offset });
        offset += page.rows.length;
        cursor = page.next;
        show();
      } }, "Next"));
  }

  getJSON("/api/instances").then((instances) => controlsBox.append(controls(filters, instances, context)))
    .catch(() => controlsBox.append(controls(filters, [], context)));
  show().catch((error) => { summary.textContent = `could not load: ${error.message}`; });

  // live: patch the row now, then read the page again once the burst of events is over
  const pending = new Set();
  let timer = null;
  const unsubscribe = context.live.subscribe((event) => {
    const row = current && current.rows.find((r) => r.job === event.job);
    if (row) {
      Object.assign(row, { state: event.state, native_state: event.native_state, last_run_id: event.run_id,
        last_run_at: row.last_run_id === event.run_id ? row.last_run_at : event.event_time });
      const tr = [...body.rows].find((r) => r.dataset.job === event.job);
      if (tr) tr.replaceWith(rowOf(row, true));
    }
    pending.add(event.job);
    if (!timer) {
      timer = setTimeout(() => {
        timer = null;
        const changed = new Set(pending);
        pending.clear();
        show(changed).catch(() => {});
      }, 1000);
    }
  });
  const ageing = setInterval(() => { if (current) show().catch(() => {}); }, 60000);  // relative times age
  return () => { stopped = true; unsubscribe(); clearTimeout(timer); clearInterval(ageing); };
}
