// Switchboard agent app: log in, pick a firm, see calls, voicemail and
// callbacks, set the status, and place or take calls from the browser.
import { api, APIError, enc } from "./api.js";
import { Phone, answer, onRemoteStream, remoteStreamOf, sendDTMF } from "./phone.js";
import { causeReason, fmtClock, fmtDuration, fmtTime, el, clear } from "./util.js";

const $ = (id) => document.getElementById(id);
const PAGE = 20;

const app = {
  me: null,
  events: null, // EventSource
  phone: null,
  session: null, // the JsSIP session of the current call
  incoming: null, // the JsSIP session ringing the browser
  ringing: [], // recent SSE "call" ringing events, for the popup's team and wait
  ctc: null, // the click-to-call in progress: {id, number}
  callEvents: new Map(), // latest SSE "call" event per call id
  callsShown: PAGE,
  lastVisit: null, // ISO time of the previous visit, for the missed count
  timers: new Map(), // name -> timeout id, for coalesced refreshes
  tick: null, // in-call timer interval
  transferredTo: "", // the target the current call was handed to, once the API took it
  liveCallId: "", // the PBX's id of the call this agent talks in, from SSE "call" events
  transfer: null, // the open transfer picker: {agents, refresh (interval id), busy, shown (list drawn)}
  wrapUntil: 0, // end of the agent's wrap-up (ms since the epoch); 0 when none
  wrapTick: null, // wrap-up countdown interval
  view: "desk", // what the right-hand side shows: "desk" (the agent's lists) or "team"
  team: {
    queues: new Map(), // team id -> {q: the team's /api/queues entry, at: Date.now() when it came}
    calls: [], // live calls the supervisor may see (GET /api/calls/live)
    names: new Map(), // agent id -> name
    listen: new Map(), // call id -> {text, failed}: the answer to the last Listen
    tick: null, // interval that advances the waits and call timers
  },
};
window.switchboardReady = false;

// ---------- errors and views ----------

function showError(e) {
  const box = $("error");
  if (!e) {
    box.hidden = true;
    box.textContent = "";
    return;
  }
  if (e instanceof APIError && e.status === 401 && app.me) {
    loggedOut("Your session has ended. Please log in again.");
    return;
  }
  box.textContent = String(e.message || e);
  box.hidden = false;
}

function show(view) {
  $("login").hidden = view !== "login";
  $("firm-picker").hidden = view !== "firms";
  $("home").hidden = view !== "home";
  $("profile").hidden = view !== "home";
  if (view !== "home") closeMenu(false);
}

function later(name, fn, ms = 150) {
  clearTimeout(app.timers.get(name));
  app.timers.set(name, setTimeout(() => { app.timers.delete(name); fn(); }, ms));
}

// ---------- login, firms, logout ----------

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.currentTarget;
  const body = {
    username: $("login-username").value.trim(),
    password: $("login-password").value,
    domain: $("login-domain").value.trim(),
  };
  // The password leaves the page with this request and is not kept.
  $("login-password").value = "";
  $("login-submit").disabled = true;
  try {
    const me = await api("POST", "/api/login", body);
    showError();
    form.reset();
    if ((me.firms || []).length > 1) pickFirm(me);
    else await enter(me);
  } catch (e) {
    showError(e.status === 401 ? new Error(e.message) : e);
  } finally {
    $("login-submit").disabled = false;
  }
});

function pickFirm(me) {
  const list = $("firm-picker-list");
  clear(list);
  clear($("menu-firm-list"));
  for (const f of me.firms) {
    const b = el("button", { type: "button", "data-firm": f.firm }, f.firm, el("span", { class: "muted" }, ` · agent ${f.agent}`));
    b.addEventListener("click", () => switchFirm(f.firm));
    list.append(b);
  }
  show("firms");
  const first = list.querySelector("button");
  if (first) first.focus();
}

async function switchFirm(firm) {
  closeMenu(false);
  try {
    const me = await api("POST", "/api/me/firm", { firm });
    showError();
    await enter(me);
  } catch (e) {
    showError(e);
  }
}

$("logout").addEventListener("click", async () => {
  closeMenu(false);
  try {
    await api("POST", "/api/logout");
  } catch (e) {
    if (!(e instanceof APIError && e.status === 401)) showError(e);
  }
  loggedOut();
});

function loggedOut(message) {
  const wasIn = app.me !== null;
  app.me = null;
  stopEvents();
  stopPhone();
  endCallUI();
  hideIncoming();
  setWrapUp(null);
  resetTeam();
  for (const id of ["calls", "voicemail", "callbacks", "menu-firm-list", "firm-picker-list", "team-list"]) clear($(id));
  $("firm").textContent = "";
  show("login");
  if (message) {
    $("error").textContent = message;
    $("error").hidden = false;
  } else {
    showError();
  }
  if (wasIn) $("login-username").focus();
}

// ---------- entering the home page ----------

async function enter(me) {
  const sameAgent = app.me && app.me.firm === me.firm && app.me.agent === me.agent;
  app.me = me;
  // Only the profile menu offers firms from now on (one button per firm in the page).
  clear($("firm-picker-list"));
  renderMe();
  if (!sameAgent) resetTeam();
  setupViews();
  show("home");
  const key = `switchboard.lastVisit.${me.firm}.${me.agent}`;
  if (!sameAgent) {
    app.lastVisit = localStorage.getItem(key);
    localStorage.setItem(key, new Date().toISOString());
    app.callsShown = PAGE;
    startEvents();
    startPhone();
  }
  await Promise.all([loadCalls(), loadVoicemail(), loadCallbacks()]);
}

function renderMe() {
  const me = app.me;
  $("firm").textContent = me.firm;
  $("me-name").textContent = me.name || me.agent;
  $("menu-name").textContent = me.name || me.agent;
  $("menu-ext").textContent = `Extension ${me.extension} · ${me.firm}`;
  renderStatus(me.status);
  setWrapUp(me.wrap_up_until);
  $("routing").textContent = me.routing || "computer";
  $("dial-hint").textContent = me.routing === "mobile"
    ? "Calls ring your mobile first, then the number you dial."
    : "Calls are placed from this computer.";
  const firms = me.firms || [];
  $("menu-firms").hidden = firms.length < 2;
  const list = $("menu-firm-list");
  clear(list);
  for (const f of firms) {
    const b = el("button", { type: "button", role: "menuitemradio", "data-firm": f.firm, "aria-checked": String(f.firm === me.firm) }, f.firm);
    b.addEventListener("click", () => { if (f.firm !== app.me.firm) switchFirm(f.firm); else closeMenu(true); });
    list.append(b);
  }
}

function renderStatus(status) {
  if (app.me) app.me.status = status;
  $("status").textContent = status || "";
  $("status-dot").className = `dot ${status || ""}`;
  for (const b of document.querySelectorAll("#profile-menu button[data-status]")) {
    b.setAttribute("aria-checked", String(b.dataset.status === status));
  }
}

// ---------- profile menu ----------

const menu = $("profile-menu");
const menuButton = $("profile-button");

function openMenu() {
  menu.hidden = false;
  menuButton.setAttribute("aria-expanded", "true");
  const current = menu.querySelector('button[aria-checked="true"]') || menu.querySelector("button");
  if (current) current.focus();
}

function closeMenu(focusButton) {
  if (menu.hidden) return;
  menu.hidden = true;
  menuButton.setAttribute("aria-expanded", "false");
  if (focusButton) menuButton.focus();
}

menuButton.addEventListener("click", () => (menu.hidden ? openMenu() : closeMenu(true)));
document.addEventListener("click", (ev) => {
  if (!menu.hidden && !$("profile").contains(ev.target)) closeMenu(false);
});
document.addEventListener("keydown", (ev) => {
  if (ev.key === "Escape" && !menu.hidden) {
    ev.preventDefault();
    closeMenu(true);
  }
});
menu.addEventListener("keydown", (ev) => {
  if (ev.key !== "ArrowDown" && ev.key !== "ArrowUp" && ev.key !== "Home" && ev.key !== "End") return;
  const items = [...menu.querySelectorAll("button")].filter((b) => b.offsetParent !== null);
  let i = items.indexOf(document.activeElement);
  if (ev.key === "ArrowDown") i = (i + 1) % items.length;
  else if (ev.key === "ArrowUp") i = (i - 1 + items.length) % items.length;
  else if (ev.key === "Home") i = 0;
  else i = items.length - 1;
  ev.preventDefault();
  items[i].focus();
});

for (const b of document.querySelectorAll("#profile-menu button[data-status]")) {
  b.addEventListener("click", async () => {
    const status = b.dataset.status;
    try {
      const a = await api("PUT", `/api/agents/${enc(app.me.agent)}/status`, { status });
      renderStatus((a && a.status) || status);
      showError();
      closeMenu(true);
    } catch (e) {
      showError(e);
    }
  });
}

// ---------- call log ----------

/** view describes a call record from this agent's side. */
function callView(c) {
  const me = app.me;
  const out = c.direction === "outbound" || c.caller_agent === me.agent ||
    (c.direction === "internal" && c.from === me.extension);
  const number = out ? c.to : c.from;
  const missed = !out && c.outcome !== "answered";
  return { out, number, missed };
}

async function loadCalls() {
  if (!app.me) return;
  try {
    const limit = Math.min(Math.max(app.callsShown, PAGE), 1000);
    const calls = await api("GET", `/api/calls?limit=${limit}`);
    renderCalls(calls, false);
    $("calls-more").hidden = calls.length < limit;
  } catch (e) {
    showError(e);
  }
}

$("calls-more").addEventListener("click", async () => {
  const rows = $("calls").querySelectorAll("tr[data-call-id]");
  const last = rows[rows.length - 1];
  if (!last) return;
  try {
    const calls = await api("GET", `/api/calls?limit=${PAGE}&before=${enc(last.dataset.callId)}`);
    renderCalls(calls, true);
    app.callsShown = $("calls").querySelectorAll("tr[data-call-id]").length;
    $("calls-more").hidden = calls.length < PAGE;
  } catch (e) {
    showError(e);
  }
});

function renderCalls(calls, append) {
  const body = $("calls");
  if (!append) clear(body);
  for (const c of calls) {
    const v = callView(c);
    const tr = el("tr", { "data-call-id": c.id, class: v.missed ? "missed" : "" });
    const dirText = v.missed ? "Missed" : v.out ? "Outgoing" : "Incoming";
    tr.append(
      el("td", {}, el("span", { class: "dir", "aria-hidden": "true", title: dirText }, v.missed ? "✕" : v.out ? "↗" : "↙"),
        el("span", { class: "sr-only" }, dirText)),
      el("td", { class: "grow" }, numberButton(v.number, "call-number")),
      el("td", {}, el("time", { datetime: c.start }, fmtTime(c.start))),
      el("td", {}, c.talk_time > 0 ? fmtDuration(c.talk_time) : "—"),
      el("td", {}, el("span", { class: "outcome", title: c.cause || "" }, outcomeText(c, v))),
    );
    body.append(tr);
  }
  $("calls-empty").hidden = body.children.length > 0;
  renderMissed();
}

function outcomeText(c, v) {
  if (v.missed) return c.outcome === "voicemail" ? "missed · voicemail" : c.outcome === "callback" ? "missed · callback" : "missed";
  return c.outcome || "";
}

function renderMissed() {
  let n = 0;
  for (const tr of $("calls").querySelectorAll("tr.missed")) {
    const t = tr.querySelector("time");
    if (!app.lastVisit || (t && t.getAttribute("datetime") > app.lastVisit)) n++;
  }
  const badge = $("missed-count");
  badge.textContent = String(n);
  badge.hidden = n === 0;
  badge.setAttribute("aria-label", `${n} missed since your last visit`);
}

function numberButton(number, cls) {
  const b = el("button", { type: "button", class: cls, title: `Call ${number}` }, number || "unknown");
  if (!number) b.disabled = true;
  b.addEventListener("click", () => dial(number));
  return b;
}

// ---------- voicemail ----------

async function loadVoicemail() {
  const me = app.me;
  if (!me) return;
  const body = $("voicemail");
  if (!me.mailbox) {
    clear(body);
    $("vm-empty").textContent = "You have no mailbox.";
    $("vm-empty").hidden = false;
    $("vm-count").hidden = true;
    return;
  }
  try {
    const list = await api("GET", `/api/voicemail/${enc(me.mailbox)}`);
    list.sort((a, b) => (a.time < b.time ? 1 : -1));
    renderVoicemail(list);
  } catch (e) {
    showError(e);
  }
}

function renderVoicemail(list) {
  const body = $("voicemail");
  // Keep the audio element of a message that is playing: replacing it would stop it.
  const keep = new Map();
  for (const tr of body.querySelectorAll("tr[data-vm-id]")) keep.set(tr.dataset.vmId, tr.querySelector("audio"));
  clear(body);
  let unread = 0;
  for (const v of list) {
    if (!v.read) unread++;
    const url = v.url || `/api/voicemail/${enc(v.mailbox)}/${enc(v.id)}.wav`;
    let audio = keep.get(v.id);
    if (!audio) {
      audio = el("audio", { class: "vm-audio", controls: "", preload: "none", src: url });
      audio.setAttribute("aria-label", `Message from ${v.caller || "unknown"}`);
    }
    const heard = el("button", { type: "button", class: "vm-heard small-btn" }, v.read ? "Heard" : "Mark heard");
    heard.disabled = v.read;
    heard.addEventListener("click", () => vmAction("POST", v, "/heard"));
    const del = el("button", { type: "button", class: "vm-delete small-btn" }, "Delete");
    del.addEventListener("click", () => vmAction("DELETE", v, ""));
    const tr = el("tr", { "data-vm-id": v.id, class: v.read ? "" : "unread" },
      el("td", { class: "grow" }, numberButton(v.caller, "num-link call-number-vm"), v.read ? "" : el("span", { class: "sr-only" }, " (new)")),
      el("td", {}, el("time", { datetime: v.time }, fmtTime(v.time)), el("span", { class: "muted small" }, ` · ${fmtDuration(v.duration)}`)),
      el("td", { class: "full" }, audio),
      el("td", { class: "actions-cell" }, el("div", { class: "actions" }, heard, del)),
    );
    body.append(tr);
  }
  $("vm-empty").textContent = "No messages.";
  $("vm-empty").hidden = list.length > 0;
  $("vm-count").textContent = String(unread);
  $("vm-count").hidden = unread === 0;
  $("vm-count").setAttribute("aria-label", `${unread} new`);
}

async function vmAction(method, v, suffix) {
  try {
    await api(method, `/api/voicemail/${enc(v.mailbox || app.me.mailbox)}/${enc(v.id)}${suffix}`);
    showError();
    await loadVoicemail();
  } catch (e) {
    showError(e);
  }
}

// ---------- callbacks ----------

async function loadCallbacks() {
  if (!app.me) return;
  try {
    const list = await api("GET", "/api/callbacks?state=pending,dialing");
    renderCallbacks(list);
  } catch (e) {
    showError(e);
  }
}

function targetText(target) {
  const [kind, id] = String(target).split(":");
  if (kind === "agent") return id === app.me.agent ? "you" : id;
  if (kind === "team") return `team ${id}`;
  return target;
}

function renderCallbacks(list) {
  const body = $("callbacks");
  clear(body);
  for (const c of list) {
    const acts = el("div", { class: "actions" });
    const add = (cls, text, fn) => {
      const b = el("button", { type: "button", class: `${cls} small-btn` }, text);
      b.addEventListener("click", fn);
      acts.append(b);
    };
    add("cb-call", "Call back", () => dial(c.caller));
    if (c.state === "pending" && !c.claimed_by) add("cb-claim", "Claim", () => cbAction(c, "claim"));
    add("cb-done", "Done", () => cbAction(c, "done"));
    add("cb-cancel", "Cancel", () => cbAction(c, "cancel"));
    let state = c.state;
    if (c.claimed_by) state += c.claimed_by === app.me.agent ? " · yours" : ` · ${c.claimed_by}`;
    body.append(el("tr", { "data-cb-id": c.id },
      el("td", { class: "grow" }, numberButton(c.caller, "num-link"), c.caller_name ? el("span", { class: "muted small" }, ` ${c.caller_name}`) : ""),
      el("td", {}, targetText(c.target)),
      el("td", {}, state),
      el("td", {}, el("time", { datetime: c.created }, fmtTime(c.created))),
      el("td", { class: "actions-cell" }, acts),
    ));
  }
  $("cb-empty").hidden = list.length > 0;
}

async function cbAction(c, action) {
  try {
    await api("POST", `/api/callbacks/${enc(c.id)}/${action}`);
    showError();
    await loadCallbacks();
  } catch (e) {
    showError(e);
  }
}

// ---------- live updates ----------

function startEvents() {
  stopEvents();
  const es = new EventSource("/api/events");
  app.events = es;
  const on = (name, fn) => es.addEventListener(name, (ev) => {
    if (app.events !== es) return;
    let data;
    try { data = JSON.parse(ev.data); } catch { return; }
    fn(data);
  });
  on("status", (d) => {
    if (d.agent === app.me.agent) {
      renderStatus(d.status);
      // An event without wrap_up_until says the wrap-up is over (or never was).
      setWrapUp(d.wrap_up_until);
    }
    if (app.transfer) updateTransferAgent(d);
  });
  on("call", onCallEvent);
  on("callback", () => later("callbacks", loadCallbacks));
  on("queue", onQueueEvent);
  on("voicemail", () => later("voicemail", loadVoicemail));
  let opened = false;
  es.addEventListener("open", () => {
    // Anything may have changed while the stream was down (the first open
    // follows the lists' first load, so it needs no reload).
    if (opened && app.events === es && app.me) {
      later("resync", () => Promise.all([loadCalls(), loadVoicemail(), loadCallbacks(), app.view === "team" ? loadTeam() : null]), 50);
    }
    opened = true;
  });
  es.addEventListener("error", () => {
    // A closed stream is not retried by the browser: most often the session ended.
    if (app.events === es && es.readyState === EventSource.CLOSED) {
      later("recheck", async () => {
        try {
          await api("GET", "/api/me");
          if (app.events === es) startEvents();
        } catch (e) {
          showError(e);
        }
      }, 2000);
    }
  });
}

function stopEvents() {
  if (app.events) app.events.close();
  app.events = null;
}

function onCallEvent(d) {
  if (d.id) app.callEvents.set(d.id, d);
  // The agent's events name the call they talk in: its id is what a transfer
  // through the API needs (the browser's SIP leg does not carry it).
  if (d.id && (d.state === "answered" || d.state === "held") && !d.click_to_call) app.liveCallId = d.id;
  if (d.id && d.state === "answered" && d.click_to_call && d.phase === "customer") app.liveCallId = d.id;
  if (d.state === "ended" && d.id === app.liveCallId) app.liveCallId = "";
  if (app.callEvents.size > 200) app.callEvents.delete(app.callEvents.keys().next().value);
  if (d.state === "ringing" && !d.click_to_call) {
    app.ringing.push({ at: Date.now(), ev: d });
    app.ringing = app.ringing.filter((r) => Date.now() - r.at < 120000);
    if (app.incoming) fillIncoming();
  }
  if (app.ctc && (d.id === app.ctc.id || (!app.ctc.id && d.click_to_call))) ctcProgress(d);
  // A call's record reaches the log up to half a second after its end (the
  // server shares one disk commit among the calls that end meanwhile).
  if (d.state === "ended") later("calls", loadCalls, 800);
}

// ---------- dialling ----------

const progress = $("call-progress");

function setProgress(text, kind) {
  progress.textContent = text;
  progress.className = `progress ${kind || ""}`;
  progress.hidden = !text;
}

$("dial-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  dial($("dial-number").value.trim());
});

for (const b of document.querySelectorAll("#dialpad button[data-key]")) {
  b.addEventListener("click", () => {
    const input = $("dial-number");
    input.value += b.dataset.key;
  });
}

async function dial(number) {
  showError();
  number = String(number || "").replace(/[\s().-]/g, "");
  if (!number) {
    showError(new Error("Enter a number to call."));
    $("dial-number").focus();
    return;
  }
  $("dial-number").value = number;
  if (app.me.routing !== "mobile" && app.phone && app.phone.registered) {
    if (app.session) {
      showError(new Error("Hang up the current call first."));
      return;
    }
    setProgress("");
    try {
      const s = app.phone.call(number);
      attachSession(s, number, "out");
    } catch (e) {
      showError(e);
    }
    return;
  }
  await clickToCall(number);
}

async function clickToCall(number) {
  app.ctc = { id: "", number };
  setProgress("Ringing you…");
  $("dial-button").disabled = true;
  try {
    const r = await api("POST", "/api/calls", { number });
    if (!app.ctc || app.ctc.number !== number) return;
    app.ctc.id = r.id;
    const seen = app.callEvents.get(r.id);
    if (seen) ctcProgress(seen);
  } catch (e) {
    app.ctc = null;
    if (e instanceof APIError && e.status === 401) showError(e);
    else setProgress(`Failed: ${e.message}`, "failed");
  } finally {
    $("dial-button").disabled = false;
  }
}

/** ctcProgress shows where a click-to-call is, from its SSE "call" events. */
function ctcProgress(d) {
  if (d.id && !app.ctc.id) app.ctc.id = d.id;
  switch (d.state) {
    case "ringing":
      setProgress(d.phase === "customer" ? "Ringing the customer…" : "Ringing you…");
      break;
    case "answered":
    case "held":
      if (d.phase === "agent") setProgress("Ringing the customer…");
      else setProgress("Connected", "connected");
      break;
    case "ended": {
      app.ctc = null;
      const reason = causeReason(d.cause, d.outcome);
      if (d.outcome === "answered" && !reason) setProgress("Call ended");
      else setProgress(`Failed: ${reason || d.outcome || "the call did not go through"}`, "failed");
      break;
    }
  }
}

// ---------- the browser phone ----------

function startPhone() {
  stopPhone();
  if (!app.me || (app.me.routing || "computer") !== "computer") {
    $("phone-state").textContent = "";
    return;
  }
  const phone = new Phone({
    onState: (text, registered) => {
      if (app.phone !== phone) return;
      window.switchboardReady = registered;
      $("phone-state").textContent = `Browser phone: ${text}`;
    },
    onIncoming: (s, number) => { if (app.phone === phone) incoming(s, number); },
  });
  app.phone = phone;
  $("phone-state").textContent = "Browser phone: connecting…";
  api("GET", "/api/me/sip").then((creds) => {
    if (app.phone === phone) phone.start(creds);
  }, (e) => {
    if (app.phone !== phone) return;
    $("phone-state").textContent = `Browser phone unavailable: ${e.message}`;
    if (e.status === 401) showError(e);
  });
}

function stopPhone() {
  window.switchboardReady = false;
  if (app.session) {
    try { app.session.terminate(); } catch { /* already over */ }
  }
  if (app.phone) app.phone.stop();
  app.phone = null;
}

// ---------- incoming popup ----------

function incoming(s, number) {
  if (app.session || app.incoming) {
    // One call at a time: a second caller hears busy (and may reach voicemail).
    try { s.terminate({ status_code: 486, reason_phrase: "Busy Here" }); } catch { /* gone */ }
    return;
  }
  app.incoming = s;
  app.incomingNumber = number;
  $("incoming-from").textContent = number;
  $("incoming-team").textContent = "";
  $("incoming-wait").textContent = "";
  fillIncoming();
  $("incoming").hidden = false;
  $("answer").focus();
  const gone = () => { if (app.incoming === s) hideIncoming(); };
  s.on("failed", gone);
  s.on("ended", gone);
}

/** fillIncoming adds the team and queue wait of the SSE event that matches the caller. */
function fillIncoming() {
  const n = app.incomingNumber || "";
  const digits = (x) => String(x || "").replace(/\D/g, "");
  const match = [...app.ringing].reverse().find((r) => {
    const f = digits(r.ev.from);
    return r.ev.from === n || (f && digits(n) && (f.endsWith(digits(n)) || digits(n).endsWith(f)));
  });
  if (!match) return;
  const d = match.ev;
  if (d.team) $("incoming-team").textContent = `Team ${d.team}`;
  if (d.wait_seconds > 0) $("incoming-wait").textContent = `· waited ${fmtDuration(d.wait_seconds)}`;
}

function hideIncoming() {
  app.incoming = null;
  app.incomingNumber = "";
  $("incoming").hidden = true;
}

$("answer").addEventListener("click", () => {
  const s = app.incoming;
  if (!s) return;
  const number = app.incomingNumber;
  hideIncoming();
  attachSession(s, number, "in");
  try {
    answer(s);
  } catch (e) {
    showError(e);
  }
});

$("decline").addEventListener("click", () => {
  const s = app.incoming;
  hideIncoming();
  if (s) {
    try { s.terminate({ status_code: 486, reason_phrase: "Busy Here" }); } catch { /* gone */ }
  }
});

$("incoming").addEventListener("keydown", (ev) => {
  if (ev.key === "Escape") { ev.preventDefault(); $("decline").click(); }
  if (ev.key === "Tab") {
    // Keep the focus inside the popup while it rings.
    const first = $("decline");
    const last = $("answer");
    if (ev.shiftKey && document.activeElement === first) { ev.preventDefault(); last.focus(); }
    else if (!ev.shiftKey && document.activeElement === last) { ev.preventDefault(); first.focus(); }
  }
});

// ---------- in call ----------

const remoteAudio = $("remote-audio");

function attachSession(s, number, dir) {
  app.session = s;
  app.transferredTo = "";
  // A new call: its id comes with its "answered" event (or from the live list).
  app.liveCallId = "";
  $("incall").hidden = false;
  $("dialer").hidden = true;
  $("incall-number").textContent = number;
  $("incall-state").textContent = dir === "out" ? "Calling…" : "Connecting…";
  $("incall-timer").textContent = "0:00";
  $("incall-dtmf").textContent = "";
  setPressed($("mute"), false, "Mute", "Unmute");
  setPressed($("hold"), false, "Hold", "Resume");
  showRecording(false);
  setCallButtons(false);
  const setStream = (stream) => {
    if (app.session !== s || !stream) return;
    remoteAudio.srcObject = stream;
    remoteAudio.play().catch(() => { /* autoplay waits for a gesture; the Call click was one */ });
  };
  onRemoteStream(s, setStream);
  s.on("progress", () => { if (app.session === s && dir === "out") $("incall-state").textContent = "Ringing…"; });
  s.on("confirmed", () => {
    if (app.session !== s) return;
    $("incall-state").textContent = "In call";
    setCallButtons(true);
    if (!remoteAudio.srcObject) setStream(remoteStreamOf(s));
    startTimer();
    // The PBX may record the call by its settings: the button shows it.
    setTimeout(() => { if (app.session === s) refreshRecording(); }, 500);
  });
  s.on("hold", (e) => { if (app.session === s && e.originator === "local") setPressed($("hold"), true, "Hold", "Resume"); });
  s.on("unhold", (e) => { if (app.session === s && e.originator === "local") setPressed($("hold"), false, "Hold", "Resume"); });
  s.on("ended", () => {
    if (app.session !== s) return;
    // After a transfer the PBX ends this leg: say where the call went.
    const to = app.transferredTo;
    endCallUI();
    setProgress(to ? `Transferred to ${to}` : "Call ended", to ? "connected" : "");
  });
  s.on("failed", (e) => {
    if (app.session !== s) return;
    endCallUI();
    const code = e.message && e.message.status_code ? `${e.message.status_code} ${e.message.reason_phrase || ""}` : "";
    const reason = e.originator === "local" ? "" : causeReason(code || e.cause, "");
    setProgress(reason ? `Failed: ${reason}` : "Call ended", reason ? "failed" : "");
  });
  $("hangup").focus();
}

function setCallButtons(up) {
  $("mute").disabled = !up;
  $("hold").disabled = !up;
  $("transfer").disabled = !up;
  $("record").disabled = !up;
  for (const b of document.querySelectorAll("#incall-keypad button")) b.disabled = !up;
}

function setPressed(b, on, offText, onText) {
  b.setAttribute("aria-pressed", String(on));
  b.textContent = on ? onText : offText;
}

function startTimer() {
  clearInterval(app.tick);
  const start = Date.now();
  app.tick = setInterval(() => { $("incall-timer").textContent = fmtClock((Date.now() - start) / 1000); }, 1000);
}

function endCallUI() {
  clearInterval(app.tick);
  app.tick = null;
  app.session = null;
  closeTransfer();
  remoteAudio.srcObject = null;
  $("incall").hidden = true;
  $("dialer").hidden = false;
  later("calls", loadCalls, 800);
}

$("hangup").addEventListener("click", () => {
  const s = app.session;
  if (!s) return;
  try { s.terminate(); } catch { endCallUI(); }
});

$("mute").addEventListener("click", () => {
  const s = app.session;
  if (!s) return;
  const muted = s.isMuted().audio;
  if (muted) s.unmute({ audio: true });
  else s.mute({ audio: true });
  setPressed($("mute"), !muted, "Mute", "Unmute");
});

$("hold").addEventListener("click", () => {
  const s = app.session;
  if (!s) return;
  const held = s.isOnHold().local;
  const ok = held ? s.unhold() : s.hold();
  if (!ok) showError(new Error("The call cannot be put on hold right now; try again."));
});

// ---------- recording ----------

/** showRecording sets the Record button to the call's recording state. */
function showRecording(on) {
  setPressed($("record"), on, "Record", "Stop recording");
  $("record").classList.toggle("recording", on);
}

/** refreshRecording asks the server whether the current call is recorded. */
async function refreshRecording() {
  try {
    const id = await currentCallId();
    const live = await api("GET", "/api/calls/live");
    const c = (live || []).find((x) => x.id === id);
    if (c && app.session) showRecording(!!c.recording);
  } catch {
    // The state shows once the agent uses the button.
  }
}

$("record").addEventListener("click", async () => {
  if (!app.session) return;
  const b = $("record");
  const on = b.getAttribute("aria-pressed") !== "true";
  b.disabled = true;
  try {
    const id = await currentCallId().catch(() => {
      throw new Error("The server does not list this call, so it cannot be recorded from here.");
    });
    const res = await api("POST", `/api/calls/${enc(id)}/record`, { on });
    showRecording(!!(res && res.recording));
    showError();
  } catch (e) {
    showError(e);
  } finally {
    b.disabled = !app.session;
  }
});

// ---------- transfer ----------

/**
 * currentCallId finds the PBX's id of the call in the in-call panel: from the
 * SSE "call" events, else from the live calls the server lists for this agent
 * (calls the browser placed send it no events).
 */
async function currentCallId() {
  if (app.liveCallId) return app.liveCallId;
  const live = await api("GET", "/api/calls/live");
  const talking = (live || []).filter((c) => c.state === "talking");
  const pick = talking.length === 1 ? talking[0] : (live || []).length === 1 ? live[0] : null;
  if (!pick) throw new Error("The server does not list this call, so it cannot be transferred from here.");
  return pick.id;
}

/** agentState is what the picker says about a colleague. */
function agentState(a) {
  const until = a.wrap_up_until ? Date.parse(a.wrap_up_until) : 0;
  if (until > Date.now() && a.status === "online") return "wrap-up";
  return a.status || "offline";
}

async function openTransfer() {
  if (!app.session || app.transfer) return;
  app.transfer = { agents: [], refresh: null, busy: false, shown: "" };
  $("transfer-picker").hidden = false;
  $("transfer").setAttribute("aria-expanded", "true");
  transferError();
  transferProgress("");
  renderTransferTeams();
  await loadTransferAgents();
  // Colleagues' status events are theirs, not this agent's: while the picker
  // is open the list is fetched again now and then to stay current.
  if (app.transfer) app.transfer.refresh = setInterval(loadTransferAgents, 3000);
  const first = $("transfer-picker").querySelector(".transfer-list button");
  (first || $("transfer-number")).focus();
}

function closeTransfer() {
  const t = app.transfer;
  app.transfer = null;
  if (t) clearInterval(t.refresh);
  $("transfer-picker").hidden = true;
  $("transfer").setAttribute("aria-expanded", "false");
  $("transfer-number").value = "";
  transferError();
  transferProgress("");
}

function transferError(e) {
  const box = $("transfer-error");
  box.textContent = e ? String(e.message || e) : "";
  box.hidden = !e;
}

function transferProgress(text) {
  $("transfer-progress").textContent = text;
  $("transfer-progress").hidden = !text;
}

async function loadTransferAgents() {
  const t = app.transfer;
  if (!t) return;
  try {
    const list = await api("GET", "/api/agents");
    if (app.transfer !== t) return;
    t.agents = (list || []).filter((a) => a.id !== app.me.agent);
    renderTransferAgents();
  } catch (e) {
    if (app.transfer === t) transferError(e);
  }
}

/** updateTransferAgent applies a "status" event to the picker's list. */
function updateTransferAgent(d) {
  const a = app.transfer.agents.find((x) => x.id === d.agent);
  if (!a) return;
  a.status = d.status;
  a.wrap_up_until = d.wrap_up_until || "";
  renderTransferAgents();
}

function transferButton(target, label, ...extra) {
  const b = el("button", { type: "button", "data-target": target, title: `Transfer to ${target}` }, ...label, ...extra);
  b.addEventListener("click", () => transferTo(target));
  return el("li", {}, b);
}

function renderTransferAgents() {
  const list = $("transfer-agents");
  // A refresh that changes nothing leaves the buttons alone: replacing them
  // under the pointer or the focus would lose a click or the keyboard place.
  const sig = JSON.stringify(app.transfer.agents.map((a) => [a.id, a.name, a.extension, agentState(a)]));
  if (sig === app.transfer.shown) return;
  app.transfer.shown = sig;
  const focused = list.contains(document.activeElement) ? document.activeElement.dataset.agent : "";
  clear(list);
  for (const a of app.transfer.agents) {
    const state = agentState(a);
    const li = transferButton(a.extension, [
      el("span", { class: `dot ${state}`, "aria-hidden": "true" }),
      el("span", { class: "transfer-name" }, a.name || a.id),
      el("span", { class: "transfer-ext" }, a.extension),
    ], el("span", { class: "transfer-status" }, state));
    const b = li.querySelector("button");
    b.dataset.agent = a.id;
    b.dataset.status = state;
    list.append(li);
    if (a.id === focused) b.focus();
  }
  $("transfer-agents-empty").hidden = app.transfer.agents.length > 0;
}

function renderTransferTeams() {
  const list = $("transfer-teams");
  clear(list);
  const teams = app.me.teams || [];
  for (const t of teams) {
    const li = transferButton(`team:${t.id}`, [
      el("span", { class: "transfer-name" }, t.name || t.id),
      el("span", { class: "transfer-ext" }, t.extension || ""),
    ]);
    li.querySelector("button").dataset.team = t.id;
    list.append(li);
  }
  $("transfer-teams-empty").hidden = teams.length > 0;
}

/** transferTo asks the PBX to hand the call over; the PBX then ends this leg. */
async function transferTo(target) {
  const t = app.transfer;
  target = String(target || "").trim();
  if (!t || t.busy) return;
  if (!target) {
    transferError(new Error("Choose an agent or a team, or enter a number."));
    $("transfer-number").focus();
    return;
  }
  t.busy = true;
  transferError();
  transferProgress(`Transferring to ${target}…`);
  for (const b of $("transfer-picker").querySelectorAll("button, input")) if (b.id !== "transfer-cancel") b.disabled = true;
  const session = app.session;
  // The PBX may end this leg before its answer to the request arrives: the
  // target is noted first, so that the end of the call says where it went.
  app.transferredTo = target;
  try {
    const id = await currentCallId();
    await api("POST", `/api/calls/${enc(id)}/transfer`, { target });
    if (app.transfer === t) transferProgress(`Transferred to ${target}`);
  } catch (e) {
    if (app.session === session) app.transferredTo = "";
    if (e instanceof APIError && e.status === 401) showError(e);
    if (app.transfer === t) {
      transferProgress("");
      transferError(e);
    }
  } finally {
    t.busy = false;
    for (const b of $("transfer-picker").querySelectorAll("button, input")) b.disabled = false;
  }
}

$("transfer").addEventListener("click", () => (app.transfer ? closeTransfer() : openTransfer()));
$("transfer-cancel").addEventListener("click", () => { closeTransfer(); $("transfer").focus(); });
$("transfer-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  transferTo($("transfer-number").value.replace(/[\s().-]/g, ""));
});
$("transfer-picker").addEventListener("keydown", (ev) => {
  if (ev.key === "Escape") {
    ev.preventDefault();
    closeTransfer();
    $("transfer").focus();
  }
});

// ---------- team view (supervisors) ----------

const STATE_TEXT = { idle: "Idle", ringing: "Ringing", "in-call": "In call", "wrap-up": "Wrap-up", away: "Away", offline: "Offline" };

/** setupViews offers the Team view to the agents who supervise a team. */
function setupViews() {
  const supervisor = (app.me.supervises || []).length > 0;
  $("views").hidden = !supervisor;
  showView(supervisor ? app.view : "desk");
}

function showView(view) {
  app.view = view;
  $("view-desk").setAttribute("aria-pressed", String(view === "desk"));
  $("view-team").setAttribute("aria-pressed", String(view === "team"));
  $("lists").hidden = view === "team";
  $("team").hidden = view !== "team";
  clearInterval(app.team.tick);
  app.team.tick = null;
  if (view === "team") {
    loadTeam();
    app.team.tick = setInterval(tickTeam, 1000);
  }
}

$("view-desk").addEventListener("click", () => showView("desk"));
$("view-team").addEventListener("click", () => showView("team"));

function resetTeam() {
  clearInterval(app.team.tick);
  app.team.tick = null;
  app.team.queues.clear();
  app.team.calls = [];
  app.team.names.clear();
  app.team.listen.clear();
  app.view = "desk";
}

/** loadTeam fetches the wallboard of the supervisor's teams and their live calls. */
async function loadTeam() {
  if (!app.me || !(app.me.supervises || []).length) return;
  try {
    const [queues, calls] = await Promise.all([api("GET", "/api/queues"), api("GET", "/api/calls/live")]);
    const now = Date.now();
    app.team.queues.clear();
    for (const q of queues) app.team.queues.set(q.team, { q, at: now });
    app.team.calls = calls;
    if (!app.team.names.size) {
      const agents = await api("GET", "/api/agents").catch(() => []);
      for (const a of agents) app.team.names.set(a.id, a.name || a.id);
    }
    renderTeam();
  } catch (e) {
    showError(e);
  }
}

async function loadTeamCalls() {
  if (!app.me || app.view !== "team") return;
  try {
    app.team.calls = await api("GET", "/api/calls/live");
    renderTeam();
  } catch (e) {
    showError(e);
  }
}

/** onQueueEvent takes a team's snapshot from a "queue" event (supervisors get one with each change). */
function onQueueEvent(d) {
  if (!d || !Array.isArray(d.members) || !(app.me.supervises || []).includes(d.team)) return;
  app.team.queues.set(d.team, { q: d, at: Date.now() });
  if (app.view !== "team") return;
  renderTeam();
  // A member's state changes when a call starts or ends: the live calls did too.
  later("team-calls", loadTeamCalls, 200);
}

function tile(key, label, value, cls) {
  return el("div", { class: `tile ${cls || ""}`, "data-figure": key }, el("span", { class: "tile-label" }, label), el("span", { class: "tile-value" }, value));
}

function agentName(id) {
  return app.team.names.get(id) || id;
}

function renderTeam() {
  const list = $("team-list");
  // Keep the focus on a Listen button across the redraw.
  const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.listen : "";
  clear(list);
  const teams = (app.me.supervises || []).map((id) => app.team.queues.get(id)).filter(Boolean);
  $("team-empty").hidden = teams.length > 0;
  for (const { q, at } of teams) list.append(teamCard(q, at));
  if (focused) {
    const b = list.querySelector(`button[data-listen="${CSS.escape(focused)}"]`);
    if (b) b.focus();
  }
}

function teamCard(q, at) {
  const ref = (app.me.teams || []).find((t) => t.id === q.team);
  const title = ref && ref.name ? ref.name : q.team;
  const t = q.today || {};
  const card = el("section", { class: "card team-card", "data-team": q.team, "aria-label": `Team ${title}` },
    el("h2", {}, title, ref && ref.extension ? el("span", { class: "muted small" }, ` · ${ref.extension}`) : ""));
  const waiting = q.waiting || [];
  const sl = Number(q.service_level);
  card.append(el("div", { class: "tiles" },
    tile("waiting", "Waiting", String(waiting.length), waiting.length ? "warn" : ""),
    el("div", { class: "tile", "data-figure": "longest" }, el("span", { class: "tile-label" }, "Longest wait"),
      el("span", { class: "tile-value wait", "data-wait": String(q.longest_wait_seconds || 0), "data-at": String(at), "data-live": waiting.length ? "1" : "" }, fmtClock(q.longest_wait_seconds || 0))),
    tile("offered", "Offered", String(t.offered || 0)),
    tile("answered", "Answered", String(t.answered || 0)),
    tile("abandoned", "Abandoned", String(t.abandoned || 0), t.abandoned ? "warn" : ""),
    tile("callbacks", "Callbacks", String(t.callbacks || 0)),
    tile("service-level", "Service level", `${Math.round((Number.isFinite(sl) ? sl : 1) * 100)}%`, sl < 0.8 ? "warn" : ""),
    tile("avg-wait", "Avg wait", fmtClock(q.avg_wait_seconds || 0)),
    tile("avg-talk", "Avg talk", fmtClock(q.avg_talk_seconds || 0)),
  ));

  card.append(el("h3", {}, "Waiting callers"));
  if (!waiting.length) card.append(el("p", { class: "empty small" }, "No one is waiting."));
  else {
    const body = el("tbody", {});
    for (const w of waiting) {
      body.append(el("tr", { "data-waiting": w.call },
        el("td", { class: "grow" }, w.from || "unknown"),
        el("td", { class: "end" }, el("span", { class: "wait", "data-wait": String(w.wait_seconds || 0), "data-at": String(at), "data-live": "1" }, fmtClock(w.wait_seconds || 0))),
      ));
    }
    card.append(el("div", { class: "table-box" }, el("table", { class: "list" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Caller"), el("th", { scope: "col" }, "Waiting"))), body)));
  }

  card.append(el("h3", {}, "Members"));
  const members = el("ul", { class: "members" });
  for (const m of q.members || []) {
    members.append(el("li", { class: "member", "data-agent": m.agent, "data-state": m.state },
      el("span", { class: `dot ${m.state}`, "aria-hidden": "true" }),
      agentName(m.agent),
      el("span", { class: "member-state" }, STATE_TEXT[m.state] || m.state)));
  }
  card.append(members);

  card.append(el("h3", {}, "Live calls"));
  const ids = new Set((q.members || []).map((m) => m.agent));
  // The calls the members are in (or ringing for); callers still waiting are listed above.
  const calls = app.team.calls.filter((c) => c.agent && c.agent !== app.me.agent && ids.has(c.agent));
  if (!calls.length) card.append(el("p", { class: "empty small" }, "No calls in progress."));
  else {
    const body = el("tbody", {});
    for (const c of calls) body.append(teamCallRow(c));
    card.append(el("div", { class: "table-box" }, el("table", { class: "list team-calls" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Caller"), el("th", { scope: "col" }, "Agent"),
        el("th", { scope: "col" }, "Time"), el("th", { scope: "col" }, el("span", { class: "sr-only" }, "Listen")), el("th", { scope: "col" }, el("span", { class: "sr-only" }, "Answer")))),
      body)));
  }
  return card;
}

function teamCallRow(c) {
  const answered = c.state === "talking";
  const since = Date.parse(c.start);
  const listen = el("button", { type: "button", class: "small-btn listen", "data-listen": c.id, title: answered ? "Listen to this call" : "Not answered yet" }, "Listen");
  listen.setAttribute("aria-label", `Listen to ${c.from || "the call"} with ${agentName(c.agent) || "nobody"}`);
  const msg = app.team.listen.get(c.id);
  const out = el("span", { class: `listen-msg ${msg && msg.failed ? "failed" : ""}`, role: "status", "data-listen-msg": c.id }, msg ? msg.text : "");
  listen.addEventListener("click", () => listenTo(c.id, listen, out));
  return el("tr", { "data-call-id": c.id },
    el("td", { class: "grow" }, c.direction === "outbound" ? c.to : c.from),
    el("td", {}, c.agent ? agentName(c.agent) : "—", answered ? "" : el("span", { class: "muted small" }, ` · ${c.state}`)),
    el("td", { class: "end" }, el("span", { class: "wait", "data-since": String(since) }, fmtClock((Date.now() - since) / 1000))),
    el("td", { class: "actions-cell" }, listen),
    el("td", {}, out));
}

/** listenTo asks the PBX to ring this supervisor's phone into the call in listen mode and shows the API's answer. */
async function listenTo(id, button, out) {
  button.disabled = true;
  const say = (text, failed) => {
    app.team.listen.set(id, { text, failed });
    out.textContent = text;
    out.className = `listen-msg ${failed ? "failed" : ""}`;
  };
  say("Asking…", false);
  try {
    await api("POST", `/api/calls/${enc(id)}/monitor`, { mode: "listen" });
    say("Your phone rings: answer to listen.", false);
  } catch (e) {
    if (e instanceof APIError && e.status === 401) showError(e);
    say(`Listen failed: ${e.message}`, true);
  } finally {
    button.disabled = false;
  }
}

/** tickTeam advances the waits and call timers shown, between two snapshots. */
function tickTeam() {
  const now = Date.now();
  for (const e of $("team-list").querySelectorAll("[data-wait]")) {
    if (!e.dataset.live) continue;
    e.textContent = fmtClock(Number(e.dataset.wait) + (now - Number(e.dataset.at)) / 1000);
  }
  for (const e of $("team-list").querySelectorAll("[data-since]")) {
    e.textContent = fmtClock((now - Number(e.dataset.since)) / 1000);
  }
}

// ---------- wrap-up ----------

/**
 * setWrapUp shows the wrap-up that ends at until (RFC 3339) with a countdown,
 * or hides it (until empty or past).
 */
function setWrapUp(until) {
  const end = until ? Date.parse(until) : 0;
  app.wrapUntil = end > Date.now() ? end : 0;
  clearInterval(app.wrapTick);
  app.wrapTick = null;
  if (!app.wrapUntil) {
    $("wrapup").hidden = true;
    return;
  }
  const draw = () => {
    const left = (app.wrapUntil - Date.now()) / 1000;
    if (left <= 0) {
      setWrapUp(null);
      return;
    }
    $("wrapup-left").textContent = fmtClock(Math.ceil(left));
  };
  draw();
  $("wrapup").hidden = false;
  app.wrapTick = setInterval(draw, 250);
}

$("wrapup-ready").addEventListener("click", async () => {
  if (!app.me) return;
  $("wrapup-ready").disabled = true;
  try {
    const a = await api("POST", `/api/agents/${enc(app.me.agent)}/ready`);
    showError();
    setWrapUp(a && a.wrap_up_until);
    if (a && a.status) renderStatus(a.status);
  } catch (e) {
    showError(e);
  } finally {
    $("wrapup-ready").disabled = false;
  }
});

// ---------- keypad ----------

function dtmf(key) {
  const s = app.session;
  if (!s) return;
  try {
    sendDTMF(s, key);
    $("incall-dtmf").textContent = ($("incall-dtmf").textContent + key).slice(-24);
  } catch (e) {
    showError(e);
  }
}

for (const b of document.querySelectorAll("#incall-keypad button[data-dtmf]")) {
  b.addEventListener("click", () => dtmf(b.dataset.dtmf));
}

document.addEventListener("keydown", (ev) => {
  // Typing a digit during a call sends it, unless the focus is in a text box.
  if (!app.session || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const t = ev.target;
  if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement) return;
  if (/^[0-9*#]$/.test(ev.key) && !$("incall").hidden && !$("mute").disabled) {
    ev.preventDefault();
    dtmf(ev.key);
  }
});

window.addEventListener("pagehide", () => {
  if (app.phone) app.phone.stop();
});

// ---------- start ----------

async function boot() {
  try {
    const me = await api("GET", "/api/me");
    if (me.role !== "agent") throw new APIError(401, "");
    await enter(me);
  } catch (e) {
    if (e instanceof APIError && e.status === 401) show("login");
    else {
      show("login");
      showError(e);
    }
  }
}

boot();
