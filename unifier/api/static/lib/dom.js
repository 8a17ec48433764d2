// Building DOM nodes and formatting values. No HTML strings anywhere: text is text.

const SVG_NS = "http://www.w3.org/2000/svg";

// el("td", {class: "job"}, "text", child...) builds an element; attributes starting with
// "on" are listeners (onclick: fn), false/null attributes are left out
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

export function ago(iso, now = Date.now()) {
  if (!iso) return "-";
  const seconds = Math.round((Date.parse(iso) - now) / 1000);
  const text = duration(Math.abs(seconds));
  return seconds < 0 ? `${text} ago` : `in ${text}`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "-";
  const abs = Math.abs(seconds);
  return abs < 60 ? `${Math.round(abs)}s` : abs < 3600 ? `${Math.round(abs / 60)}m`
    : abs < 86400 ? `${Math.round(abs / 360) / 10}h` : `${Math.round(abs / 8640) / 10}d`;
}

// a time shown relative to now, the exact UTC time in its tooltip and <time datetime>
export function when(iso) {
  return iso ? el("time", { datetime: iso, title: iso }, ago(iso)) : "-";
}

// colour AND a text label: a state is never told by colour alone
export function stateBadge(state) {
  return state ? el("span", { class: `state s-${state}` }, state) : el("span", { class: "state none" }, "never ran");
}

export const jobHref = (uri) => `#/job/${encodeURIComponent(uri)}`;
export const runHref = (job, runId) => `#/run/${encodeURIComponent(job)}/${encodeURIComponent(runId)}`;

export function section(title, ...children) {
  return el("section", {}, el("h2", {}, title), ...children);
}

// a wide table scrolls sideways inside its box on a phone instead of widening the page
export function scrollBox(...children) {
  return el("div", { class: "scroll" }, ...children);
}

export function table(headers, rows, empty = "nothing here") {
  const body = el("tbody", {}, rows.length ? rows
    : el("tr", {}, el("td", { colspan: headers.length, class: "empty" }, empty)));
  return scrollBox(el("table", {}, el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))), body));
}
