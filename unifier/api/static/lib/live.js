// Following /api/events/stream (Server-Sent Events) with fetch() and a streaming reader
// rather than EventSource, so that the Authorization header goes with it. The server
// ends each stream after a few seconds; we reconnect with ?after=<last id seen>, so no
// event is lost between streams.

import { api, ApiError } from "./api.js";

const KEEP = 200;  // recent events kept for the Live page

export class LiveFeed {
  constructor() {
    this.listeners = new Set();
    this.statusListeners = new Set();
    this.recent = [];  // newest last
    this.lastId = null;  // null: start live, from the newest event
    this.retryMs = 1000;
    this.status = "connecting";
    this.stopped = false;
    this.controller = null;
    this.running = false;
    this.now = false;  // reconnect at once (a restart), not after the server's retry delay
  }

  subscribe(listener) { this.listeners.add(listener); return () => this.listeners.delete(listener); }
  onStatus(listener) { this.statusListeners.add(listener); listener(this.status); }

  setStatus(status) {
    this.status = status;
    for (const listener of this.statusListeners) listener(status);
  }

  // restart now (after a sign-in: the new token must be used)
  restart() {
    this.stopped = false;
    this.now = true;
    if (this.controller) this.controller.abort();
    else if (!this.running) this.run();
  }

  async run() {
    if (this.running) return;
    this.running = true;
    try {
      await this.loop();
    } finally {
      this.running = false;
    }
  }

  async loop() {
    while (!this.stopped) {
      this.controller = new AbortController();
      try {
        await this.streamOnce(this.controller.signal);
      } catch (error) {
        if (error instanceof ApiError && error.refused) {
          this.setStatus("refused");
          this.stopped = true;  // a new token (sign-in) restarts it
          this.controller = null;  // nothing in flight: restart() must run the loop again
          break;
        }
        if (error.name !== "AbortError") this.setStatus("reconnecting");
      }
      this.controller = null;
      if (!this.now) await new Promise((resolve) => setTimeout(resolve, this.retryMs));
      this.now = false;
    }
  }

  async streamOnce(signal) {
    const url = this.lastId === null ? "/api/events/stream" : `/api/events/stream?after=${this.lastId}`;
    const response = await api(url, { signal, headers: { Accept: "text/event-stream" } });
    this.setStatus("live");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        this.dispatch(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  }

  dispatch(block) {
    const message = { id: null, event: "message", data: [] };
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "data") message.data.push(value);
      else if (field === "id") message.id = value;
      else if (field === "event") message.event = value;
      else if (field === "retry" && /^\d+$/.test(value)) this.retryMs = Number(value);
    }
    if (message.id !== null && /^\d+$/.test(message.id)) this.lastId = Number(message.id);
    if (!message.data.length) return;
    let event;
    try { event = JSON.parse(message.data.join("\n")); } catch { return; }
    this.recent.push(event);
    if (this.recent.length > KEEP) this.recent.shift();
    for (const listener of this.listeners) listener(event);
  }
}
