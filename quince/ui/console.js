// StackTach console: plain JavaScript, no build step, no dependencies.
// It reads quince's JSON API and its live stream (/v1/stream) from the page's
// own origin; the token, when the API wants one, is kept in sessionStorage.
"use strict";

const API = location.pathname.replace(/\/ui\/?$/, "/");
const FOLLOWABLE = ["request_id", "instance_id", "tenant_id"];
const STATES = ["active", "firing", "expiring", "retry_fire", "retry_expire",
  "error", "expire_error", "completed"];
const RESETTABLE = new Set(["error", "expire_error"]);
const MAX_ROWS = 500;
const PAGE = 200;
const POLL_MS = 1500;

const $ = (sel) => document.querySelector(sel);

// ------------------------------------------------------------------ helpers

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// A value of the API's typed JSON: datetimes, time ranges, or plain values.
function text(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "object") {
    if (value.__type__ === "datetime") return shortTime(value.datetime);
    if ("begin" in value && "end" in value) return `${text(value.begin)} – ${text(value.end)}`;
    return JSON.stringify(value);
  }
  return String(value);
}

function millis(value) {
  if (value && typeof value === "object" && value.__type__ === "datetime") value = value.datetime;
  return typeof value === "string" ? Date.parse(value) : NaN;
}

function shortTime(iso) {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return String(iso);
  return new Date(ms).toISOString().replace("T", " ").replace("Z", "");
}

function duration(ms) {
  if (!Number.isFinite(ms)) return "";
  const sign = ms < 0 ? "−" : "+";
  let rest = Math.abs(ms);
  if (rest < 1000) return `${sign}${rest.toFixed(0)} ms`;
  if (rest < 60000) return `${sign}${(rest / 1000).toFixed(rest < 10000 ? 2 : 1)} s`;
  const parts = [];
  for (const [unit, size] of [["d", 86400000], ["h", 3600000], ["min", 60000], ["s", 1000]]) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)} ${unit}`);
      rest %= size;
    }
    if (parts.length === 2) break;
  }
  return sign + parts.join(" ");
}

function notice(message, kind) {
  const box = $("#notice");
  box.textContent = message || "";
  box.className = "notice" + (kind ? ` ${kind}` : "");
  box.hidden = !message;
}

function setConnection(label, kind) {
  const pill = $("#connection");
  pill.textContent = label;
  pill.className = "pill" + (kind ? ` ${kind}` : "");
}

// ------------------------------------------------------------------ the API

const auth = {
  get token() { return sessionStorage.getItem("stacktach.token") || ""; },
  set token(value) {
    if (value) sessionStorage.setItem("stacktach.token", value);
    else sessionStorage.removeItem("stacktach.token");
  },
};

let tokenPrompt = null;

// Ask for the token; resolves true when one was given.
function askToken(why) {
  if (tokenPrompt) return tokenPrompt;
  const dialog = $("#token-dialog");
  $("#token-why").textContent = why || "This API needs a token. It is kept in this tab only.";
  $("#token-input").value = auth.token;
  tokenPrompt = new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      tokenPrompt = null;
      if (dialog.returnValue === "ok" && $("#token-input").value.trim()) {
        auth.token = $("#token-input").value.trim();
        resolve(true);
      } else {
        if (dialog.returnValue === "forget") auth.token = "";
        resolve(false);
      }
    }, { once: true });
  });
  dialog.showModal();
  $("#token-input").focus();
  return tokenPrompt;
}

class ApiError extends Error {
  constructor(status, title, description) {
    super(description ? `${title}: ${description}` : title);
    this.status = status;
  }
}

// fetch + JSON; a 401 asks for the token once and retries.
async function api(path, options = {}, retried = false) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  if (auth.token) headers.Authorization = `Bearer ${auth.token}`;
  const response = await fetch(API + path, { ...options, headers });
  if (response.status === 401 && !retried) {
    const why = auth.token ? "The token was refused. Enter the API token (api.token)."
      : "This action needs the API token (api.token).";
    if (await askToken(why)) return api(path, options, true);
  }
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(response.status, (body && body.title) || `HTTP ${response.status}`,
      body && body.description);
  }
  return body;
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, value);
  }
  const out = search.toString();
  return out ? `?${out}` : "";
}

// ------------------------------------------------------------------ shared pieces

function followLink(name, value) {
  if (value === undefined || value === null || value === "") return "";
  return el("a", {
    class: "follow", href: `#/follow/${encodeURIComponent(name)}/${encodeURIComponent(value)}`,
    title: `Every event with ${name} ${value}`, onclick: (e) => e.stopPropagation(),
  }, String(value));
}

function shortId(value) {
  if (!value) return "";
  const s = String(value);
  return s.length > 14 ? `${s.slice(0, 13)}…` : s;
}

function idCell(event, name) {
  const value = event[name];
  if (value === undefined || value === null) return el("td", { class: "id" });
  const link = followLink(name, value);
  link.textContent = shortId(value);
  return el("td", { class: "id" }, link);
}

function selectRow(table, row) {
  for (const other of table.querySelectorAll("tr.selected")) other.classList.remove("selected");
  if (row) row.classList.add("selected");
}

// The detail panel of one event: its traits, then its raw notification.
async function showEvent(panel, event) {
  const traits = Object.keys(event).filter((k) => !k.startsWith("_")).sort((a, b) => {
    const rank = (k) => (k === "event_type" ? 0 : k === "timestamp" ? 1 : k === "message_id" ? 2 : 3);
    return rank(a) - rank(b) || a.localeCompare(b);
  });
  const rows = traits.map((name) => el("tr", {},
    el("th", {}, name),
    el("td", {}, FOLLOWABLE.includes(name) ? followLink(name, event[name]) : text(event[name]))));
  const raw = el("pre", { class: "raw", id: "raw" }, "Looking in the archive…");
  panel.replaceChildren(
    el("button", { class: "ghost close", type: "button", onclick: () => { panel.hidden = true; } }, "Close"),
    el("h3", {}, event.event_type),
    el("div", { class: "caption" }, shortTime(event.timestamp.datetime || event.timestamp)),
    el("h4", {}, "Traits"),
    el("table", { class: "traits", id: "traits" }, el("tbody", {}, rows)),
    el("h4", {}, "Raw notification"),
    raw);
  panel.hidden = false;
  panel.dataset.messageId = event.message_id;
  try {
    const found = await api(`v1/events/${encodeURIComponent(event.message_id)}/raw`);
    if (panel.dataset.messageId !== event.message_id) return;
    raw.textContent = JSON.stringify(found.notification, null, 2);
    raw.before(el("div", { class: "caption" }, `from ${found.archive}`));
  } catch (err) {
    if (panel.dataset.messageId !== event.message_id) return;
    raw.replaceWith(el("p", { class: "caption", id: "raw" },
      err.status === 404 ? err.message : `Could not read the archive: ${err.message}`));
  }
}

// ------------------------------------------------------------------ live tail

const live = {
  source: null,
  paused: false,
  pending: [],
  seen: new Set(),
  filters: { event_name: "", deployment: "", traits: "" },
  mode: "",
  pollTimer: null,
  lastMark: null,
};

function liveFiltersFromForm() {
  return {
    event_name: $("#f-type").value.trim(),
    deployment: $("#f-deployment").value.trim(),
    traits: $("#f-trait").value.trim(),
  };
}

// The REST list has no deployment parameter: it is a trait there.
function restFilters(filters) {
  const traits = [filters.traits, filters.deployment ? `deployment:${filters.deployment}` : ""]
    .filter(Boolean).join(";");
  return { event_name: filters.event_name, traits };
}

function liveRow(event) {
  const row = el("tr", { class: "event fresh", dataset: { messageId: event.message_id } },
    el("td", { class: "time" }, text(event.timestamp)),
    el("td", { class: "type" }, event.event_type),
    el("td", { class: "muted" }, text(event.deployment ?? "")),
    el("td", {}, text(event.host ?? "")),
    idCell(event, "instance_id"),
    idCell(event, "request_id"),
    idCell(event, "tenant_id"));
  row.addEventListener("click", () => {
    selectRow($("#live-table"), row);
    showEvent($("#live-detail"), event);
  });
  return row;
}

function updateLiveCaption() {
  const body = $("#live-table tbody");
  $("#live-count").textContent = `${body.rows.length} event${body.rows.length === 1 ? "" : "s"}`;
  $("#live-pending").textContent = live.pending.length ? `· ${live.pending.length} waiting (paused)` : "";
  $("#live-empty").hidden = body.rows.length > 0;
  $("#pause").textContent = live.paused
    ? (live.pending.length ? `Resume (${live.pending.length} new)` : "Resume") : "Pause";
}

// New events go on top; ``older`` ones (the history) below what is shown.
function addLive(events, older = false) {
  const body = $("#live-table tbody");
  for (const event of events) {
    if (!event || !event.message_id || live.seen.has(event.message_id)) continue;
    live.seen.add(event.message_id);
    if (live.paused && !older) {
      live.pending.push(event);
      continue;
    }
    const row = liveRow(event);
    if (older) {
      row.classList.remove("fresh");
      body.append(row);
    } else {
      body.prepend(row);
    }
  }
  while (body.rows.length > MAX_ROWS) {
    const last = body.rows[body.rows.length - 1];
    live.seen.delete(last.dataset.messageId);
    last.remove();
  }
  updateLiveCaption();
}

function markOf(event) {
  return event && event._mark ? parseInt(event._mark.replace(/^\+/, ""), 16) : null;
}

function noteMark(events) {
  for (const event of events) {
    const mark = markOf(event);
    if (mark !== null && (live.lastMark === null || mark > live.lastMark)) live.lastMark = mark;
  }
}

function stopLive() {
  if (live.source) live.source.close();
  live.source = null;
  live.mode = "";
  clearTimeout(live.pollTimer);
  live.pollTimer = null;
}

// When /v1/stream cannot be used (absent, or a proxy breaks it), poll the
// event list for rows after the newest one shown.
function pollLive() {
  live.mode = "polling";
  const tick = async () => {
    try {
      const params = { ...restFilters(live.filters), limit: PAGE };
      if (live.lastMark !== null) params.mark = `+${live.lastMark.toString(16)}`;
      const events = await api(`v1/events${query(params)}`, {}, true);  // never prompts
      noteMark(events);
      // After a mark the page is oldest first; without one, newest first.
      addLive(params.mark ? events : events.slice().reverse());
      setConnection(live.paused ? "paused" : "live · polling", live.paused ? "paused" : "live");
    } catch (err) {
      if (err.status === 401) {  // the token changed: the Token button restarts
        notice(err.message);
        setConnection("token needed", "down");
        live.mode = "";
        return;
      }
      setConnection("disconnected", "down");
    }
    if (live.mode === "polling") live.pollTimer = setTimeout(tick, POLL_MS);
  };
  tick();
}

function streamUrl(params) {
  const all = { ...params };
  if (auth.token) all.token = auth.token;
  return `${API}v1/stream${query(all)}`;
}

// The recent events matching the filters, below anything already shown.
// False when it failed (the notice says why).
async function loadHistory() {
  try {
    const recent = await api(`v1/events${query({ ...restFilters(live.filters), limit: 50 })}`);
    noteMark(recent);
    addLive(recent, true);
    notice("");
    return true;
  } catch (err) {
    notice(err.message);
    if (err.status === 401) setConnection("token needed", "down");
    return false;
  }
}

// The stream first, then the history once it is open: no event falls between.
function connectLive() {
  live.mode = "stream";
  const source = new EventSource(streamUrl({ kind: "events", ...live.filters }));
  live.source = source;
  let opened = false;
  setConnection("connecting…");
  source.addEventListener("open", () => {
    setConnection(live.paused ? "paused" : "live", live.paused ? "paused" : "live");
    if (!opened) loadHistory();
    opened = true;
  });
  source.addEventListener("event", (message) => {
    let event;
    try { event = JSON.parse(message.data); } catch { return; }
    noteMark([event]);
    addLive([event]);
  });
  source.addEventListener("error", async () => {
    if (live.source !== source) return;
    if (source.readyState === EventSource.CLOSED) {
      // Not an event stream (404, 401, a proxy's page): poll the list instead.
      source.close();
      live.source = null;
      // Without the history (no token, no database) there is nothing to poll.
      if (!opened && !(await loadHistory())) return;
      if (live.mode === "stream") pollLive();
    } else {
      setConnection("reconnecting…", "down");
    }
  });
}

window.addEventListener("pagehide", stopLive);

function startLive() {
  stopLive();
  live.filters = liveFiltersFromForm();
  live.seen.clear();
  live.pending = [];
  live.lastMark = null;
  $("#live-table tbody").replaceChildren();
  $("#live-detail").hidden = true;
  updateLiveCaption();
  connectLive();
}

function togglePause() {
  live.paused = !live.paused;
  if (!live.paused) {
    const waiting = live.pending;
    live.pending = [];
    for (const event of waiting) live.seen.delete(event.message_id);
    addLive(waiting);
  }
  const running = live.source || live.mode === "polling";
  setConnection(live.paused ? "paused" : (running ? (live.mode === "polling" ? "live · polling" : "live") : "idle"),
    live.paused ? "paused" : (running ? "live" : ""));
  updateLiveCaption();
}

// ------------------------------------------------------------------ follow

async function allEvents(params, cap = 2000) {
  const out = [];
  let mark = null;
  while (out.length < cap) {
    const page = await api(`v1/events${query({ ...params, limit: PAGE, mark })}`);
    out.push(...page);
    if (page.length < PAGE) break;
    mark = page[page.length - 1]._mark;
  }
  return out;
}

async function follow(name, value) {
  $("#follow-name").value = FOLLOWABLE.includes(name) ? name : "request_id";
  $("#follow-value").value = value;
  const title = $("#follow-title");
  title.replaceChildren(`${name} `, el("code", {}, value));
  const body = $("#follow-table tbody");
  body.replaceChildren();
  $("#follow-detail").hidden = true;
  $("#follow-summary").textContent = "Loading…";
  $("#follow-empty").hidden = true;
  let events;
  try {
    // A text filter: ids are text, even those that look like numbers.
    events = await allEvents({ traits: `${name}:text:${value}` });
  } catch (err) {
    $("#follow-summary").textContent = "";
    notice(err.message);
    return;
  }
  notice("");
  events.sort((a, b) => millis(a.timestamp) - millis(b.timestamp) || markOf(a) - markOf(b));
  const first = events.length ? millis(events[0].timestamp) : NaN;
  let previous = NaN;
  for (const event of events) {
    const at = millis(event.timestamp);
    const gap = Number.isNaN(previous) ? NaN : at - previous;
    const row = el("tr", { class: "event", dataset: { messageId: event.message_id } },
      el("td", { class: "time" }, text(event.timestamp)),
      el("td", { class: "num gap" + (gap > 60000 ? " gap-long" : "") }, Number.isNaN(gap) ? "" : duration(gap)),
      el("td", { class: "num" }, duration(at - first)),
      el("td", { class: "type" }, event.event_type),
      el("td", {}, text(event.host ?? "")),
      el("td", {}, text(event.service ?? "")),
      idCell(event, "instance_id"));
    row.addEventListener("click", () => {
      selectRow($("#follow-table"), row);
      showEvent($("#follow-detail"), event);
    });
    body.append(row);
    previous = at;
  }
  const span = events.length > 1 ? ` over ${duration(millis(events[events.length - 1].timestamp) - first).slice(1)}` : "";
  $("#follow-summary").textContent = `${events.length} event${events.length === 1 ? "" : "s"}${span}, oldest first`;
  $("#follow-empty").hidden = events.length > 0;
  $("#follow-empty").textContent = `No event has ${name} ${value}.`;
}

// ------------------------------------------------------------------ streams

const streams = { state: "error", source: null, refresh: null };

async function loadCounts() {
  const box = $("#state-counts");
  const counts = await Promise.all(STATES.map((state) =>
    api(`v1/streams/count${query({ state })}`).then((r) => r[0].count, () => null)));
  box.replaceChildren(...STATES.map((state, i) => el("a", {
    href: `#/streams/${state}`,
    class: "state" + (state === streams.state ? " active-choice" : "")
      + (RESETTABLE.has(state) && counts[i] ? " bad" : ""),
    dataset: { state },
  }, el("span", { class: "n" }, counts[i] === null ? "–" : counts[i]), el("span", { class: "s" }, state.replace("_", " ")))));
}

function traitsText(traits) {
  return Object.entries(traits || {}).map(([k, v]) => `${k}=${text(v)}`).join(", ");
}

async function loadStreams(state) {
  streams.state = state;
  $("#streams-title").textContent = `Streams: ${state.replace("_", " ")}`;
  await loadCounts();
  const body = $("#streams-table tbody");
  let found;
  try {
    found = await api(`v1/streams${query({ state, limit: PAGE })}`);
    notice("");
  } catch (err) {
    notice(err.message);
    return;
  }
  body.replaceChildren(...found.map((stream) => {
    const row = el("tr", { class: "stream", dataset: { streamId: stream.id } },
      el("td", { class: "num" }, stream.id),
      el("td", {}, stream.name),
      el("td", {}, el("span", { class: `badge ${stream.state}` }, stream.state)),
      el("td", { class: "time" }, text(stream.first_event)),
      el("td", { class: "time" }, text(stream.last_event)),
      el("td", { class: "mono wrap" }, traitsText(stream.distinguishing_traits)));
    row.addEventListener("click", () => { location.hash = `#/stream/${stream.id}`; });
    return row;
  }));
  $("#streams-empty").hidden = found.length > 0;
}

async function showStream(id) {
  const panel = $("#stream-detail");
  let stream;
  try {
    [stream] = await api(`v1/streams/${id}${query({ details: "true" })}`);
  } catch (err) {
    notice(err.message);
    return;
  }
  if (!$("#streams-table tbody").rows.length || streams.state !== stream.state) {
    await loadStreams(stream.state);
  }
  const row = $(`#streams-table tr[data-stream-id="${stream.id}"]`);
  selectRow($("#streams-table"), row);
  const facts = [
    ["trigger", stream.name], ["first event", text(stream.first_event)],
    ["last event", text(stream.last_event)], ["fires", text(stream.fire_timestamp)],
    ["expires", text(stream.expire_timestamp)],
    ...Object.entries(stream.distinguishing_traits || {}).map(([k, v]) => [k, text(v)]),
  ].filter(([, v]) => v !== "");
  const parts = [
    el("button", { class: "ghost close", type: "button", onclick: () => { location.hash = `#/streams/${stream.state}`; } }, "Close"),
    el("h3", {}, `Stream ${stream.id} `, el("span", { class: `badge ${stream.state}`, id: "stream-state" }, stream.state)),
    el("table", { class: "traits" }, el("tbody", {}, facts.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v))))),
  ];
  if (RESETTABLE.has(stream.state)) {
    parts.push(el("h4", {}, "Why it failed"),
      el("div", { class: "reason", id: "stream-reason" }, stream.last_error || "(no reason recorded)"));
    const button = el("button", { class: "danger", type: "button", id: "reset" }, "Reset stream");
    const status = el("span", { class: "caption", id: "reset-status" });
    button.addEventListener("click", async () => {
      button.disabled = true;
      status.textContent = "Resetting…";
      try {
        const [after] = await api(`v1/streams/${stream.id}`, { method: "PUT" });
        status.textContent = `Reset: now ${after.state}; a worker will retry it.`;
        $("#stream-state").textContent = after.state;
        $("#stream-state").className = `badge ${after.state}`;
        loadCounts();
        if (row) row.remove();
      } catch (err) {
        status.textContent = err.message;
        button.disabled = false;
      }
    });
    parts.push(el("div", { class: "actions" }, button, status));
  }
  const events = stream.events || [];
  parts.push(el("h4", {}, `Events (${events.length})`),
    el("table", { class: "grid", id: "stream-events" },
      el("thead", {}, el("tr", {}, el("th", {}, "Time (UTC)"), el("th", {}, "Event type"), el("th", {}, "Request"))),
      el("tbody", {}, events.map((event) => el("tr", {},
        el("td", { class: "time" }, text(event.timestamp)),
        el("td", { class: "type" }, event.event_type),
        idCell(event, "request_id"))))));
  panel.replaceChildren(...parts);
  panel.hidden = false;
}

// Stream changes, live: refresh the counts (at most once a second).
function watchStreams() {
  if (streams.source) return;
  const source = new EventSource(streamUrl({ kind: "streams" }));
  streams.source = source;
  source.addEventListener("open", () => {
    if (!live.source && live.mode !== "polling") setConnection("live · streams", "live");
  });
  source.addEventListener("stream", () => {
    if (streams.refresh) return;
    streams.refresh = setTimeout(() => { streams.refresh = null; loadCounts(); }, 1000);
  });
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) source.close();
    if (!live.source && live.mode !== "polling") setConnection("idle");
  });
}

function unwatchStreams() {
  if (streams.source) streams.source.close();
  streams.source = null;
  if (!live.source && live.mode !== "polling") setConnection("idle");
}

window.addEventListener("pagehide", unwatchStreams);

// ------------------------------------------------------------------ routing

function show(view) {
  for (const section of document.querySelectorAll(".view")) section.hidden = section.dataset.view !== view;
  for (const link of document.querySelectorAll("[data-nav]")) link.classList.toggle("active", link.dataset.nav === view);
}

async function route() {
  const [, view = "live", ...rest] = location.hash.replace(/^#/, "").split("/");
  const args = rest.map(decodeURIComponent);
  if (view !== "streams" && view !== "stream") unwatchStreams();
  if (view === "follow") {
    show("follow");
    if (args.length >= 2) await follow(args[0], args.slice(1).join("/"));
  } else if (view === "streams" || view === "stream") {
    show("streams");
    watchStreams();
    if (view === "stream" && args[0]) await showStream(args[0]);
    else {
      $("#stream-detail").hidden = true;
      await loadStreams(STATES.includes(args[0]) ? args[0] : streams.state);
    }
  } else {
    show("live");
    if (!live.source && live.mode !== "polling") await startLive();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("#live-filters").addEventListener("submit", (e) => { e.preventDefault(); startLive(); });
  $("#f-clear").addEventListener("click", () => {
    for (const id of ["#f-type", "#f-deployment", "#f-trait"]) $(id).value = "";
    startLive();
  });
  $("#pause").addEventListener("click", togglePause);
  $("#follow-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const value = $("#follow-value").value.trim();
    if (value) location.hash = `#/follow/${$("#follow-name").value}/${encodeURIComponent(value)}`;
  });
  $("#token-button").addEventListener("click", async () => {
    if (await askToken("The API token (api.token), kept in this tab only.")) {
      if ($("#view-live").hidden) route();
      else startLive();
    }
  });
  window.addEventListener("hashchange", route);
  route();
});
