// The unifier dashboard: a hash router over a few pages, all read from /api and kept
// current by the live event stream. Vanilla JS modules, no build step, no external library.
"use strict";

import { onProblem, token } from "./lib/api.js";
import { el } from "./lib/dom.js";
import { LiveFeed } from "./lib/live.js";
import * as instancesPage from "./pages/instances.js";
import * as jobPage from "./pages/job.js";
import * as livePage from "./pages/live.js";
import * as runPage from "./pages/run.js";
import * as signinPage from "./pages/signin.js";
import * as statusPage from "./pages/status.js";
import * as timelinePage from "./pages/timeline.js";

// pattern -> page; a page's render(box, match, context) returns its clean-up function
const ROUTES = [
  [/^\/status$/, statusPage, "status"],
  [/^\/job\/([^/]+)$/, jobPage, "status"],
  [/^\/run\/([^/]+)\/([^/]+)$/, runPage, "status"],
  [/^\/instances$/, instancesPage, "instances"],
  [/^\/timeline$/, timelinePage, "timeline"],
  [/^\/live$/, livePage, "live"],
  [/^\/signin$/, signinPage, "signin"],
];

const live = new LiveFeed();
let cleanup = null;

function parseHash() {
  const hash = location.hash.replace(/^#/, "") || "/status";
  const at = hash.indexOf("?");
  return { path: at < 0 ? hash : hash.slice(0, at), params: new URLSearchParams(at < 0 ? "" : hash.slice(at + 1)) };
}

function showProblem(error) {
  const box = document.getElementById("problem");
  const refused = error.status === 401 ? "Not signed in or the token is not valid"
    : error.status === 403 ? "Your token does not allow this" : "Request failed";
  box.replaceChildren(el("strong", {}, `${refused} (HTTP ${error.status ?? "?"}). `),
    error.detail || error.message || String(error), " ",
    error.status === 401 || error.status === 403 ? el("a", { href: "#/signin" }, "Sign in") : "",
    el("button", { type: "button", class: "link", onclick: () => box.replaceChildren(), "aria-label": "dismiss" }, "dismiss"));
}

function markNav(section) {
  for (const link of document.querySelectorAll("nav a[data-section]")) {
    if (link.dataset.section === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const who = document.getElementById("who");
  who.textContent = token.get() ? "signed in (token)" : "sign in";
}

async function route() {
  if (cleanup) { cleanup(); cleanup = null; }
  const { path, params } = parseHash();
  const view = document.getElementById("view");
  view.replaceChildren();
  const found = ROUTES.find(([pattern]) => pattern.test(path));
  if (!found) {
    view.append(el("h2", {}, "Not found"), el("p", {}, `No page ${path}. `, el("a", { href: "#/status" }, "Status")));
    return;
  }
  const [pattern, page, section] = found;
  markNav(section);
  const match = path.match(pattern).slice(1).map(decodeURIComponent);
  const context = { live, params, navigate: (hash) => { location.hash = hash; }, onSignIn: () => {
    document.getElementById("problem").replaceChildren();  // a refusal seen before is no longer news
    live.restart();
  } };
  try {
    cleanup = page.render(view, match, context) || null;
  } catch (error) {
    showProblem(error);
  }
  // a new page takes the focus to its heading, so a keyboard or screen reader user starts there
  const heading = view.querySelector("h1, h2");
  if (heading && document.activeElement === document.body) { heading.tabIndex = -1; heading.focus({ preventScroll: true }); }
}

function main() {
  onProblem(showProblem);
  const indicator = document.getElementById("live");
  live.onStatus((status) => {
    indicator.textContent = status;
    indicator.className = `live ${status === "live" ? "on" : "off"}`;
  });
  window.addEventListener("hashchange", route);
  window.addEventListener("unhandledrejection", (event) => showProblem(event.reason));
  route();
  live.run();
}

main();
