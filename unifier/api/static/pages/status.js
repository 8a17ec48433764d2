// Status across every tool: one row per job, searched, filtered, sorted and paged.
//
// Asks the server to do the work: /api/status?limit=&q=&tool=&instance=&state=&owner=
// &tag=&paused=&sort= and follows the RFC 8288 `Link: <...>; rel="next"` header for the
// next page. A server that ignores these parameters answers with every row (more than
// `limit`): then the page filters, sorts and pages on its own, from one fetched copy that
// it keeps until an event says something changed. Filtering rows the server already
// filtered changes nothing, so the page always applies the filters it can check itself.

import { getJSON, api, nextLink, query } from "../lib/api.js";
import { el, jobHref, runHref, scrollBox, stateBadge, when } from "../lib/dom.js";

export const PAGE_SIZE = 50;
const STATES = ["succeeded", "failed", "running", "queued", "cancelled", "skipped", "unknown"];
const SORTS = [
  ["job", "job URI"], ["name", "name"], ["state", "state"], ["-last_run_at", "last run, newest first"],
  ["next_run_at", "next run, soonest first"], ["instance", "instance"],
];
const FILTERS = ["q", "tool", "instance", "state", "owner", "tag", "paused", "sort"];

// one fetched copy of every row, for a server that does not filter (shared across visits)
const everything = { rows: null, jobs: null, dirty: true, rowsHaveJobFields: false };

function filtersFrom(params) {
  const filters = {};
  for (const key of FILTERS) if (params.get(key)) filters[key] = params.get(key);
  return filters;
}

// the job fields a status row may lack (owner, tags, link): read from /api/jobs once,
// asked for while /api/status answers and dropped if its rows carry them already
let jobsRequest = null;

function prefetchJobs() {
  if (everything.jobs || jobsRequest || everything.rowsHaveJobFields) return;
  const controller = new AbortController();
  const promise = api("/api/jobs", { signal: controller.signal }).then((r) => r.json());
  promise.catch(() => {});  // awaited (and its error shown) by jobDetails, if it is needed at all
  jobsRequest = { controller, promise };
}

async function jobDetails() {
  if (!everything.jobs) {
    prefetchJobs();
    const jobs = await jobsRequest.promise;
    jobsRequest = null;
    everything.jobs = new Map(jobs.map((j) => [j.uri, { owner: j.owner, tags: j.tags || [], url: j.url }]));
  }
  return everything.jobs;
}

async function withJobDetails(rows) {
  if (!rows.length || "url" in rows[0]) {
    everything.rowsHaveJobFields = rows.length > 0;
    if (jobsRequest) { jobsRequest.controller.abort(); jobsRequest = null; }
    return rows;
  }
  const details = await jobDetails();
  if (rows.some((row) => !details.has(row.job))) {  // a job new since: read them again
    everything.jobs = null;
    return withJobDetails(rows);
  }
  return rows.map((row) => ({ ...row, ...details.get(row.job) }));
}

export function matches(row, f) {
  if (f.tool && row.kind !== f.tool) return false;
  if (f.instance && row.instance !== f.instance) return false;
  if (f.state && (row.state || "never") !== f.state) return false;
  if (f.paused && String(row.paused) !== f.paused) return false;
  if (f.owner && row.owner !== undefined && (row.owner || "") !== f.owner) return false;
  if (f.tag && row.tags !== undefined && !row.tags.includes(f.tag)) return false;
  if (f.q) {
    const needle = f.q.toLowerCase();
    const hay = [row.job, row.name, row.owner || "", ...(row.tags || [])].join("\n").toLowerCase();
    if (!hay.includes(needle)) return false;
  }
  return true;
}

export function sorter(sort = "job") {
  const descending = sort.startsWith("-");
  const key = sort.replace(/^-/, "");
  return (a, b) => {
    const x = a[key] ?? null, y = b[key] ?? null;
    if (x === y) return a.job < b.job ? -1 : a.job > b.job ? 1 : 0;
    if (x === null) return 1;  // rows without a value go last either way
    if (y === null) return -1;
    return (x < y ? -1 : 1) * (descending ? -1 : 1);
  };
}

// what the server is asked: the filters, one page; "never ran" is not a run state the
// API knows, so that one is left to the page
function serverQuery(filters) {
  const asked = { ...filters, limit: PAGE_SIZE };
  if (asked.state === "never") delete asked.state;
  return asked;
}

// one page of rows: {rows, next, total}; `next` is a server URL or {offset} for local paging
export async function loadPage(filters, cursor) {
  const offset = cursor ? cursor.offset : 0;
  if (offset !== undefined && everything.rows && !everything.dirty) return localPage(filters, offset);
  prefetchJobs();
  const response = await api(offset === undefined ? cursor : `/api/status${query(serverQuery(filters))}`);
  const rows = await response.json();
  if (rows.length > PAGE_SIZE) {  // the server ignored limit (and so the filters): do it here
    everything.rows = await withJobDetails(rows);
    everything.dirty = false;
    return localPage(filters, offset || 0);
  }
  everything.rows = null;  // the server pages: nothing to keep
  const next = nextLink(response.headers.get("Link"));
  const shown = (await withJobDetails(rows)).filter((row) => matches(row, filters));
  return { rows: shown.sort(sorter(filters.sort)), next, total: null };
}

function localPage(filters, offset) {
  const found = everything.rows.filter((row) => matches(row, filters)).sort(sorter(filters.sort));
  const rows = found.slice(offset, offset + PAGE_SIZE);
  const next = offset + PAGE_SIZE < found.length ? { offset: offset + PAGE_SIZE } : null;
  return { rows, next, total: found.length, offset };
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

  const pages = [];  // cursors of the pages before this one (Previous)
  let cursor = null, current = null, stopped = false;

  async function show(changedJobs = new Set()) {
    const page = await loadPage(filters, cursor);
    if (stopped) return;
    current = page;
    body.replaceChildren(...page.rows.map((row) => rowOf(row, changedJobs.has(row.job))));
    if (!page.rows.length) body.append(el("tr", {}, el("td", { colspan: 8, class: "empty" }, "no job matches")));
    const first = (page.offset ?? pages.length * PAGE_SIZE) + 1;
    summary.textContent = page.rows.length
      ? `jobs ${first}-${first + page.rows.length - 1}${page.total !== null ? ` of ${page.total}` : ""}` : "";
    pager.replaceChildren(
      el("button", { type: "button", disabled: !pages.length, onclick: () => { cursor = pages.pop(); show(); } }, "Previous"),
      el("button", { type: "button", disabled: !page.next, onclick: () => { pages.push(cursor); cursor = page.next; show(); } }, "Next"));
  }

  getJSON("/api/instances").then((instances) => controlsBox.append(controls(filters, instances, context)))
    .catch(() => controlsBox.append(controls(filters, [], context)));
  show().catch((error) => { summary.textContent = `could not load: ${error.message}`; });

  // live: patch the row now, then read the page again once the burst of events is over
  const pending = new Set();
  let timer = null;
  const unsubscribe = context.live.subscribe((event) => {
    everything.dirty = true;
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
