// Live: run events as they are recorded, newest first, from the shared event stream.

import { el, jobHref, runHref, stateBadge, when } from "../lib/dom.js";

function rowOf(event) {
  return el("tr", {},
    el("td", {}, when(event.event_time)),
    el("td", {}, event.event_type),
    el("td", {}, stateBadge(event.state)),
    el("td", { class: "job" }, el("a", { href: jobHref(event.job) }, event.job)),
    el("td", {}, el("a", { href: runHref(event.job, event.run_id) }, event.run_id)));
}

export function render(box, _match, context) {
  const body = el("tbody");
  const empty = el("tr", {}, el("td", { colspan: 5, class: "empty" }, "waiting for events (they appear here as runs change)"));
  body.append(...[...context.live.recent].reverse().map(rowOf));
  if (!body.rows.length) body.append(empty);
  box.append(el("h2", {}, "Live"),
    el("p", { class: "muted" }, "Every run state change across all tools, as it is recorded (since this tab opened)."),
    el("div", { class: "scroll" }, el("table", { id: "events", "aria-live": "polite" },
      el("thead", {}, el("tr", {}, ["When", "Event", "State", "Job", "Run"].map((h) => el("th", { scope: "col" }, h)))), body)));
  return context.live.subscribe((event) => {
    empty.remove();
    body.prepend(rowOf(event));
    while (body.rows.length > 200) body.deleteRow(-1);
  });
}
