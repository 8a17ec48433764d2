// Sign-in with an API token: kept in sessionStorage (this tab only, gone when it closes)
// and sent as `Authorization: Bearer <token>` with every API call and the live stream.

import { token } from "../lib/api.js";
import { el } from "../lib/dom.js";

export function render(box, _match, context) {
  const input = el("input", { type: "password", name: "token", id: "token", autocomplete: "off", required: true });
  const state = el("p", { "aria-live": "polite" }, token.get() ? "A token is set for this tab." : "No token is set.");
  const form = el("form", { class: "signin" },
    el("label", { for: "token" }, "API token"), input,
    el("div", { class: "buttons" }, el("button", { type: "submit" }, "Sign in"),
      el("button", { type: "button", onclick: () => {
        token.clear();
        state.textContent = "Signed out: no token is set.";
        context.onSignIn();
      } }, "Sign out")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    token.set(input.value.trim());
    input.value = "";
    state.textContent = "Signed in: the token is kept for this tab only.";
    context.onSignIn();
    context.navigate("#/status");
  });
  box.append(el("h2", {}, "Sign in"),
    el("p", { class: "muted" }, "Paste an API token. It stays in this browser tab only and is sent with every request."),
    form, state);
}
