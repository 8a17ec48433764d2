// One run: its state and times, parameters, cause and the whole `why` chain (each run a
// link), its state history, and the tail of its log (followed while it runs).

import { getJSON, query } from "../lib/api.js";
import { duration, el, jobHref, runHref, section, stateBadge, table, when } from "../lib/dom.js";

const FOLLOW_MS = 2000;
const TAIL = 200;

function describeCause(cause) {
  if (!cause) return "unknown";
  if (cause.kind === "trigger") return `trigger ${cause.trigger || "?"}${cause.firing_id ? ` (firing ${cause.firing_id})` : ""}`;
  if (cause.kind === "manual") return `manual${cause.actor ? ` by ${cause.actor}` : ""}`;
  if (cause.kind === "external") return `external${cause.actor ? ` (${cause.actor})` : ""}`;
  if (cause.kind === "schedule") return "schedule";
  return "unknown (the tool did not say)";
}

// the cause tree as nested lists: this run, what caused it, and the runs upstream of it
export function whyTree(node) {
  const label = el("div", { class: "why-run" },
    el("a", { href: runHref(node.job, node.run_id) }, `${node.job} run ${node.run_id}`), " ", stateBadge(node.state),
    node.repeated ? el("span", { class: "muted" }, " (explained above)") : "");
  const item = el("li", {}, label);
  if (node.repeated) return item;
  item.append(el("div", { class: "muted" }, "caused by ", describeCause(node.cause)));
  const children = node.upstream.map(whyTree);
  for (const missing of node.missing) {
    children.push(el("li", {}, el("a", { href: jobHref(missing.job) }, `${missing.job} run ${missing.run_id}`),
      el("span", { class: "muted" }, " (not in the catalog yet: sync its instance)")));
  }
  if (children.length) item.append(el("ul", {}, children));
  return item;
}

function whySection(why) {
  const roots = why.roots.filter((r) => !(r.job === why.job && r.run_id === why.run_id));
  return el("div", { id: "why" },
    el("ul", { class: "why" }, whyTree(why)),
    roots.length ? el("p", {}, el("strong", {}, "Root cause: "), roots.map((r, i) => [i ? "; " : "",
      el("a", { href: runHref(r.job, r.run_id) }, `${r.job} run ${r.run_id}`), ` (${r.cause})`])) : "");
}

function facts(run) {
  const took = run.started_at && run.ended_at ? (Date.parse(run.ended_at) - Date.parse(run.started_at)) / 1000 : null;
  return el("dl", { class: "facts" },
    el("dt", {}, "State"), el("dd", {}, stateBadge(run.state), run.native_state ? ` (in ${run.job.split(":")[0]}: ${run.native_state})` : ""),
    el("dt", {}, "Job"), el("dd", {}, el("a", { href: jobHref(run.job) }, run.job)),
    el("dt", {}, "Queued"), el("dd", {}, when(run.queued_at)),
    el("dt", {}, "Started"), el("dd", {}, when(run.started_at)),
    el("dt", {}, "Ended"), el("dd", {}, when(run.ended_at)),
    el("dt", {}, "Duration"), el("dd", {}, duration(took)),
    el("dt", {}, "Attempt"), el("dd", {}, run.attempt ?? "-"),
    el("dt", {}, "Cause"), el("dd", {}, describeCause(run.cause)),
    el("dt", {}, "Log in its tool"), el("dd", {}, run.log_url
      ? el("a", { href: run.log_url, target: "_blank", rel: "noopener" }, "open") : "-"));
}

export function render(box, [job, runId], context) {
  const ids = query({ job, run_id: runId });
  const head = el("div", {}, el("p", { class: "muted" }, "loading..."));
  const params = el("div"), why = el("div"), history = el("div");
  const logState = el("p", { class: "muted", "aria-live": "polite" });
  const log = el("pre", { class: "log", tabindex: 0, "aria-label": "log" });
  box.append(el("h2", {}, "Run ", el("code", {}, runId)), head,
    section("Parameters", params), section("Why it ran", why), section("State history", history),
    section("Log", logState, log));

  let terminal = false, stopped = false, follow = null;

  async function loadRun() {
    const run = await getJSON(`/api/run${ids}`);
    terminal = ["succeeded", "failed", "cancelled", "skipped"].includes(run.state);
    head.replaceChildren(facts(run));
    const entries = Object.entries(run.parameters || {});
    params.replaceChildren(entries.length
      ? table(["Name", "Value"], entries.map(([k, v]) => el("tr", {}, el("td", {}, el("code", {}, k)),
        el("td", {}, el("code", {}, typeof v === "string" ? v : JSON.stringify(v))))))
      : el("p", { class: "muted" }, "none"));
    why.replaceChildren(whySection(await getJSON(`/api/run/why${ids}`)));
  }

  async function loadHistory() {
    const events = await getJSON(`/api/run/events${ids}`);
    history.replaceChildren(table(["When", "Event", "State", "In its tool"], events.map((e) => el("tr", {},
      el("td", {}, when(e.event_time)), el("td", {}, e.event_type), el("td", {}, stateBadge(e.state)),
      el("td", { class: "muted" }, e.native_state || "-"))), "no events recorded"));
  }

  async function loadLog() {
    try {
      const tail = await getJSON(`/api/run/logs${query({ job, run_id: runId, tail: TAIL })}`);
      log.textContent = tail.lines.join("\n") || "(empty)";
      logState.textContent = `${tail.truncated ? `last ${TAIL} lines` : "whole log"}${tail.terminal ? "" : "; following while it runs"}`;
      if (tail.terminal) terminal = true;
    } catch (error) {
      logState.textContent = `log not available: ${error.detail || error.message}`;
    }
    if (!terminal && !stopped) follow = setTimeout(loadLog, FOLLOW_MS);
  }

  const fail = (target) => (error) => target.replaceChildren(el("p", { class: "bad" }, error.message));
  loadRun().catch(fail(head));
  loadHistory().catch(fail(history));
  loadLog();

  const unsubscribe = context.live.subscribe((event) => {
    if (event.job !== job || event.run_id !== runId) return;
    loadRun().catch(fail(head));
    loadHistory().catch(fail(history));
    clearTimeout(follow);
    loadLog();
  });
  return () => { stopped = true; clearTimeout(follow); unsubscribe(); };
}
