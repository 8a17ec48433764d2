// One job: what it is, its runs (paged), their duration trend, its schedule and forecast,
// and what triggers it and what it triggers.

import { api, getJSON, nextLink, query } from "../lib/api.js";
import { duration, el, jobHref, runHref, section, stateBadge, svg, table, when } from "../lib/dom.js";

const RUNS_PAGE = 25;

function seconds(run) {
  if (!run.started_at || !run.ended_at) return null;
  return (Date.parse(run.ended_at) - Date.parse(run.started_at)) / 1000;
}

// the durations of finished runs, oldest to newest, as an inline SVG line with a dot per run
export function durationTrend(runs) {
  const points = runs.filter((r) => seconds(r) !== null).reverse();
  if (points.length < 2) return el("p", { class: "muted" }, "not enough finished runs for a trend");
  const W = 560, H = 120, PAD = 28;
  const most = Math.max(...points.map(seconds), 1);
  const x = (i) => PAD + (i * (W - 2 * PAD)) / (points.length - 1);
  const y = (v) => H - PAD + 10 - (v / most) * (H - PAD - 10);
  const image = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "trend", role: "img",
    "aria-label": `duration of the last ${points.length} finished runs, longest ${duration(most)}` });
  image.append(svg("line", { x1: PAD, y1: y(0), x2: W - PAD, y2: y(0), class: "axis" }));
  image.append(svg("text", { x: 2, y: y(most) + 4, class: "axis-label" }, duration(most)));
  image.append(svg("text", { x: 2, y: y(0) + 4, class: "axis-label" }, "0"));
  image.append(svg("polyline", { points: points.map((r, i) => `${x(i)},${y(seconds(r))}`).join(" "), class: "line" }));
  points.forEach((run, i) => {
    const dot = svg("circle", { cx: x(i), cy: y(seconds(run)), r: 4, class: `dot s-${run.state}` });
    dot.append(svg("title", {}, `${run.run_id}: ${run.state}, ${duration(seconds(run))}`));
    image.append(dot);
  });
  return image;
}

function runRow(run) {
  return el("tr", {},
    el("td", {}, el("a", { href: runHref(run.job, run.run_id) }, run.run_id)),
    el("td", {}, stateBadge(run.state)),
    el("td", {}, when(run.started_at || run.queued_at)),
    el("td", {}, duration(seconds(run))),
    el("td", { class: "muted" }, run.cause ? run.cause.kind : "-"));
}

function neighbours(graph, uri) {
  const upstream = graph.edges.filter((e) => e.to === uri);
  const downstream = graph.edges.filter((e) => e.from === uri);
  const item = (job, edge) => el("li", {}, el("a", { href: jobHref(job) }, job),
    el("span", { class: "muted" }, ` via trigger ${edge.trigger} (${edge.mode}: ${edge.states.join(", ")})`,
      edge.paused ? ", paused" : ""));
  return el("div", { class: "columns" },
    el("div", {}, el("h3", {}, "Triggered by"), upstream.length
      ? el("ul", {}, upstream.map((e) => item(e.from, e))) : el("p", { class: "muted" }, "no trigger starts it")),
    el("div", {}, el("h3", {}, "Triggers"), downstream.length
      ? el("ul", {}, downstream.map((e) => item(e.to, e))) : el("p", { class: "muted" }, "it starts no other job")));
}

export function render(box, [uri], context) {
  const facts = el("div", {}, el("p", { class: "muted" }, "loading..."));
  const runsBody = el("tbody");
  const more = el("div", { class: "pager" });
  const trend = el("div");
  const schedule = el("div");
  const links = el("div");
  box.append(el("h2", {}, "Job ", el("code", {}, uri)), facts,
    section("Runs", el("div", { class: "scroll" }, el("table", { id: "runs" },
      el("thead", {}, el("tr", {}, ["Run", "State", "Started", "Duration", "Cause"].map((h) => el("th", { scope: "col" }, h)))),
      runsBody)), more),
    section("Duration trend", trend), section("Schedule and forecast", schedule), section("Dependencies", links));

  getJSON(`/api/jobs/${encodeURIComponent(uri)}`).then((job) => {
    facts.replaceChildren(el("dl", { class: "facts" },
      el("dt", {}, "Name"), el("dd", {}, job.name),
      el("dt", {}, "Tool"), el("dd", {}, `${job.kind} (instance ${job.instance})`),
      el("dt", {}, "Owner"), el("dd", {}, job.owner || "-"),
      el("dt", {}, "Tags"), el("dd", {}, job.tags.length ? job.tags.join(", ") : "-"),
      el("dt", {}, "Description"), el("dd", {}, job.description || "-"),
      el("dt", {}, "In its tool"), el("dd", {}, job.url
        ? el("a", { href: job.url, target: "_blank", rel: "noopener" }, `open in ${job.kind}`) : "no link")));
    schedule.prepend(el("p", {}, job.schedule ? `${job.schedule}${job.timezone ? ` (${job.timezone})` : ""}` : "no schedule",
      job.paused ? el("span", { class: "tag" }, "paused") : ""));
  }).catch((error) => facts.replaceChildren(el("p", { class: "bad" }, error.message)));

  // runs: a page at a time, the next one from the server's Link header
  let next = null, runs = [];
  async function loadRuns(append) {
    const following = append && next;
    const response = await api(following ? next : `/api/runs${query({ job: uri, limit: RUNS_PAGE })}`);
    const page = await response.json();
    next = nextLink(response.headers.get("Link"));
    runs = following ? runs.concat(page) : page;
    runsBody.replaceChildren(...(runs.length ? runs.map(runRow)
      : [el("tr", {}, el("td", { colspan: 5, class: "empty" }, "no runs yet"))]));
    more.replaceChildren(next !== null ? el("button", { type: "button", onclick: () => {
      loadRuns(true).catch(() => {});
    } }, "Older runs") : "");
    trend.replaceChildren(durationTrend(runs));
  }
  loadRuns(false).catch((error) => runsBody.replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "bad" }, error.message))));

  getJSON(`/api/forecast${query({ job: uri, within: "7d" })}`).then((rows) => {
    schedule.append(rows.length ? table(["Expected", "Why"], rows.slice(0, 10).map((r) =>
      el("tr", {}, el("td", {}, r.exact ? "" : "at least ", when(r.at)), el("td", {}, r.detail))))
      : el("p", { class: "muted" }, "nothing expected within 7 days"));
  }).catch((error) => schedule.append(el("p", { class: "bad" }, error.message)));

  getJSON("/api/graph").then((graph) => links.replaceChildren(neighbours(graph, uri)))
    .catch((error) => links.replaceChildren(el("p", { class: "bad" }, error.message)));

  return context.live.subscribe((event) => { if (event.job === uri) loadRuns(false).catch(() => {}); });
}
