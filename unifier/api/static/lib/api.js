// Calling /api: every request carries `Authorization: Bearer <token>` once a token is set
// (kept in sessionStorage: this tab only), and a refusal (401/403) is shown to the user,
// never swallowed.

const TOKEN_KEY = "unifier.token";

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

export class ApiError extends Error {
  constructor(path, status, detail) {
    super(`${path}: HTTP ${status}${detail ? `: ${detail}` : ""}`);
    this.status = status;
    this.detail = detail;
  }
  get refused() { return this.status === 401 || this.status === 403; }
}

const problemListeners = new Set();
export function onProblem(listener) { problemListeners.add(listener); }
export function reportProblem(error) {
  for (const listener of problemListeners) listener(error);
}

function headers(extra) {
  const all = { Accept: "application/json", ...extra };
  const value = token.get();
  if (value) all.Authorization = `Bearer ${value}`;
  return all;
}

async function detailOf(response) {
  try {
    const body = await response.json();
    return typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail ?? body);
  } catch {
    return response.statusText;
  }
}

// fetch with the token; a non-2xx answer throws ApiError (401/403 also reach the banner)
export async function api(path, init = {}) {
  const response = await fetch(path, { ...init, headers: headers(init.headers) });
  if (!response.ok) {
    const error = new ApiError(path, response.status, await detailOf(response));
    if (error.refused) reportProblem(error);
    throw error;
  }
  return response;
}

export async function getJSON(path) {
  return (await api(path)).json();
}

// the URL of rel="next" in an RFC 8288 Link header, or null (relative URLs resolve against the page)
export function nextLink(header) {
  if (!header) return null;
  for (const part of header.split(/,(?=\s*<)/)) {
    const match = part.match(/^\s*<([^>]*)>(.*)$/);
    if (!match) continue;
    const rel = match[2].match(/;\s*rel\s*=\s*(?:"([^"]*)"|([^;\s]+))/i);
    if (rel && (rel[1] ?? rel[2]).toLowerCase().split(/\s+/).includes("next")) return match[1];
  }
  return null;
}

// every row of a listing that pages: the first page, then each rel="next" URL in turn
export async function getEveryPage(path) {
  const rows = [];
  for (let url = path; url;) {
    const response = await api(url);
    rows.push(...await response.json());
    url = nextLink(response.headers.get("Link"));
  }
  return rows;
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
