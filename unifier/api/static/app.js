// The unifier dashboard: status table, 24 h run timeline and dependency graph, all read
// from /api and kept current by the /api/events/stream Server-Sent Events.
// Vanilla JS, no build step, no external library.
"use strict";

const DAY_MS = 24 * 3600 * 1000;
const SVG_NS = "http://www.w3.org/2000/svg";
let health = {};  // instance name -> {healthy, error}

async function getJSON(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

// el("td", {class: "job"}, "text", child...) builds an element; no HTML strings, no injection
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function ago(iso, now = Date.now()) {
  if (!iso) return "-";
  const seconds = Math.round((Date.parse(iso) - now) / 1000);
  const abs = Math.abs(seconds);
  const text = abs < 60 ? `${abs}s` : abs < 3600 ? `${Math.round(abs / 60)}m`
    : abs < 86400 ? `${Math.round(abs / 3600)}h` : `${Math.round(abs / 86400)}d`;
  return seconds < 0 ? `${text} ago` : `in ${text}`;
}

function stateBadge(state) {
  return state ? el("span", { class: `state s-${state}` }, state) : el("span", { class: "state none" }, "never ran");
}

// ---------------------------------------------------------------- instances and status

function renderInstances(rows) {
  health = {};
  const box = document.getElementById("instances");
  box.replaceChildren();
  for (const row of rows) {
    health[row.name] = row;
    const chip = el("span", { class: `chip ${row.healthy ? "ok" : "down"}`,
      title: row.healthy ? `last sync ${ago(row.last_sync_at)}` : row.error || "unhealthy" },
      `${row.name} (${row.adapter})`);
    box.append(chip);
  }
  if (!rows.length) box.append(el("span", { class: "empty" }, "no instances (see `unifier apply`)"));
}

function renderStatus(rows, changed = new Set()) {
  const body = document.querySelector("#status tbody");
  body.replaceChildren();
  for (const row of rows) {
    const instance = health[row.instance];
    const problem = row.instance_error || (instance && !instance.healthy ? instance.error : null);
    const tr = el("tr", changed.has(row.job) ? { class: "changed" } : {},
      el("td", { class: "job", title: row.name }, row.job, row.paused ? el("span", { class: "muted" }, " (paused)") : ""),
      el("td", {}, stateBadge(row.state)),
      el("td", { title: row.last_run_at || "" }, ago(row.last_run_at)),
      el("td", { title: row.next_run_at || "" }, ago(row.next_run_at)),
      el("td", { class: "muted" }, row.schedule || "-"),
      el("td", problem ? { class: "bad", title: problem } : {}, problem ? `${row.instance}: ${problem}` : row.instance));
    body.append(tr);
  }
  if (!rows.length) body.append(el("tr", {}, el("td", { colspan: 6, class: "empty" }, "no jobs yet (run `unifier sync`)")));
}

// ---------------------------------------------------------------- timeline

function renderTimeline(runs, now = Date.now()) {
  const box = document.getElementById("timeline");
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
      track.append(el("div", { class: `tl-bar s-${run.state}`, style: `left:${left}%;width:${width}%`,
        title: `${run.run_id}: ${run.state}\n${run.started_at || run.queued_at || ""} -> ${run.ended_at || "now"}` }));
    }
    box.append(el("div", { class: "tl-row" }, el("div", { class: "tl-label", title: job }, job), track));
  }
  const axis = el("div", { class: "tl-axis" });
  for (let h = 24; h >= 0; h -= 6) axis.append(el("span", {}, h ? `-${h}h` : "now"));
  box.append(axis);
}

// ---------------------------------------------------------------- dependency graph

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

function renderGraph(graph) {
  const box = document.getElementById("graph");
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
    height: PAD * 2 + rows * (H + GAP_Y) - GAP_Y });
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
    const g = svg("g", { class: `node${node.in_catalog === false ? " missing" : ""}`, transform: `translate(${x},${y})` });
    g.append(svg("title", {}, node.id + (node.in_catalog === false ? " (not in the catalog)" : "")));
    g.append(svg("rect", { width: W, height: H }));
    const label = node.id.length > 32 ? "..." + node.id.slice(-31) : node.id;
    g.append(svg("text", { x: 8, y: H / 2 + 4 }, label));
    image.append(g);
  }
  box.append(image);
}

// ---------------------------------------------------------------- loading and live updates

async function refresh(changed) {
  const [instances, status, runs] = await Promise.all([
    getJSON("/api/instances"), getJSON("/api/status?limit=10000"), getJSON("/api/runs?since=24h&limit=2000")]);
  renderInstances(instances);
  renderStatus(status, changed);
  renderTimeline(runs);
}

let pending = new Set(), timer = null;

// many events arrive together during a sync: refresh once for the lot
function scheduleRefresh(job) {
  pending.add(job);
  if (timer) return;
  timer = setTimeout(() => {
    const changed = pending;
    pending = new Set();
    timer = null;
    refresh(changed).catch(showError);
  }, 300);
}

function showError(error) {
  console.error(error);
  const live = document.getElementById("live");
  live.textContent = "error";
  live.title = String(error);
}

function follow() {
  const live = document.getElementById("live");
  // the browser resends Last-Event-ID when it reconnects, so nothing is missed between streams
  const source = new EventSource("/api/events/stream");
  source.onopen = () => { live.className = "live on"; live.textContent = "live"; };
  source.onerror = () => { live.className = "live off"; live.textContent = "reconnecting"; };
  for (const type of ["START", "RUNNING", "COMPLETE", "FAIL", "ABORT", "OTHER"]) {
    source.addEventListener(type, (message) => scheduleRefresh(JSON.parse(message.data).job));
  }
}

async function main() {
  try {
    await refresh(new Set());
    renderGraph(await getJSON("/api/graph"));
  } catch (error) {
    showError(error);
  }
  follow();
  setInterval(() => refresh(new Set()).catch(showError), 60000);  // relative times age
}

main();
