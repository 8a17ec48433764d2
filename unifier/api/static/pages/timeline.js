// The last 24 h of runs on one time axis, and the cross-tool dependency graph.

import { getEveryPage, getJSON } from "../lib/api.js";
import { el, jobHref, runHref, section, svg } from "../lib/dom.js";

const DAY_MS = 24 * 3600 * 1000;

function renderTimeline(box, runs, now = Date.now()) {
  box.replaceChildren();
  const start = now - DAY_MS;
  const byJob = new Map();
  for (const run of runs) {
    const begin = Date.parse(run.started_at || run.queued_at || run.ended_at);
    if (Number.isNaN(begin)) continue;
    const end = run.ended_at ? Date.parse(run.ended_at) : now;
    if (end < start) continue;
    if (!byJob.has(run.job)) byJob.set(run.job, []);
    byJob.get(run.job).push({ run, begin: Math.max(begin, start), end });
  }
  if (!byJob.size) { box.append(el("div", { class: "empty" }, "no runs in the last 24 h")); return; }
  for (const job of [...byJob.keys()].sort()) {
    const track = el("div", { class: "tl-track" });
    for (const { run, begin, end } of byJob.get(job)) {
      const left = ((begin - start) / DAY_MS) * 100;
      const width = Math.max(((end - begin) / DAY_MS) * 100, 0.2);
      track.append(el("a", { class: `tl-bar s-${run.state}`, style: `left:${left}%;width:${width}%`,
        href: runHref(run.job, run.run_id), "aria-label": `${run.job} run ${run.run_id}: ${run.state}`,
        title: `${run.run_id}: ${run.state}\n${run.started_at || run.queued_at || ""} -> ${run.ended_at || "now"}` }));
    }
    box.append(el("div", { class: "tl-row" }, el("a", { class: "tl-label", title: job, href: jobHref(job) }, job), track));
  }
  const axis = el("div", { class: "tl-axis" });
  for (let h = 24; h >= 0; h -= 6) axis.append(el("span", {}, h ? `-${h}h` : "now"));
  box.append(axis);
}

// depth of a node = longest path from a node with no upstream; cycles are cut off
function depths(nodes, edges) {
  const depth = Object.fromEntries(nodes.map((n) => [n.id, 0]));
  for (let round = 0; round < nodes.length; round++) {
    let moved = false;
    for (const e of edges) {
      if (depth[e.to] < depth[e.from] + 1 && depth[e.from] + 1 < nodes.length) {
        depth[e.to] = depth[e.from] + 1;
        moved = true;
      }
    }
    if (!moved) break;
  }
  return depth;
}

function renderGraph(box, graph) {
  box.replaceChildren();
  if (!graph.nodes.length) { box.append(el("div", { class: "empty" }, "no triggers (see `unifier apply`)")); return; }
  const depth = depths(graph.nodes, graph.edges);
  const columns = [];
  for (const node of graph.nodes) (columns[depth[node.id]] ||= []).push(node);
  const W = 240, H = 30, GAP_X = 80, GAP_Y = 18, PAD = 16;
  const at = {};
  columns.forEach((column, c) => column.forEach((node, r) => {
    at[node.id] = { x: PAD + c * (W + GAP_X), y: PAD + r * (H + GAP_Y) };
  }));
  const rows = Math.max(...columns.map((c) => (c ? c.length : 0)));
  const image = svg("svg", { width: PAD * 2 + columns.length * (W + GAP_X) - GAP_X,
    height: PAD * 2 + rows * (H + GAP_Y) - GAP_Y, role: "img", "aria-label": "dependency graph" });
  const defs = svg("defs");
  const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
  marker.append(svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#64748b" }));
  defs.append(marker);
  image.append(defs);
  for (const e of graph.edges) {
    const a = at[e.from], b = at[e.to];
    const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2, mid = (x1 + x2) / 2;
    const path = svg("path", { class: `edge${e.paused ? " paused" : ""}`, "marker-end": "url(#arrow)",
      d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}` });
    path.append(svg("title", {}, `${e.trigger} (${e.mode}: ${e.states.join(", ")})${e.paused ? ", paused" : ""}`));
    image.append(path);
  }
  for (const node of graph.nodes) {
    const { x, y } = at[node.id];
    const link = svg("a", { href: jobHref(node.id) });
    const g = svg("g", { class: `node${node.in_catalog === false ? " missing" : ""}`, transform: `translate(${x},${y})` });
    g.append(svg("title", {}, node.id + (node.in_catalog === false ? " (not in the catalog)" : "")));
    g.append(svg("rect", { width: W, height: H }));
    const label = node.id.length > 32 ? "..." + node.id.slice(-31) : node.id;
    g.append(svg("text", { x: 8, y: H / 2 + 4 }, label));
    link.append(g);
    image.append(link);
  }
  box.append(image);
}

export function render(box, _match, context) {
  const timeline = el("div", { class: "timeline" }, el("p", { class: "muted" }, "loading..."));
  const graph = el("div", { class: "graph" });
  box.append(el("h2", {}, "Timeline and dependencies"), section("Runs, last 24 h", timeline), section("Dependencies", graph));
  // every run of the window: the list routes page (100 rows unless asked), so follow Link
  const load = () => getEveryPage("/api/runs?since=24h&limit=1000").then((runs) => renderTimeline(timeline, runs));
  const fail = (target) => (error) => target.replaceChildren(el("p", { class: "bad" }, error.message));
  load().catch(fail(timeline));
  getJSON("/api/graph").then((g) => renderGraph(graph, g)).catch(fail(graph));
  let timer = null;
  const unsubscribe = context.live.subscribe(() => {
    if (!timer) timer = setTimeout(() => { timer = null; load().catch(fail(timeline)); }, 1000);
  });
  return () => { clearTimeout(timer); unsubscribe(); };
}
