"use strict";
// Switchboard agent console: plain fetch calls to the JSON API, session cookie auth.
const $ = (id) => document.getElementById(id);
let creds = null; // kept in memory only, to switch firms without typing again

async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
  const res = await fetch(path, opts);
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) throw new Error((data && data.error) || res.statusText);
  return data;
}

function showError(e) { $("error").textContent = e ? String(e.message || e) : ""; }

function cell(row, text) { const td = document.createElement("td"); td.textContent = text; row.appendChild(td); return td; }

async function refresh() {
  showError();
  let me;
  try { me = await api("GET", "/api/me"); } catch (e) { $("login").classList.remove("hidden"); $("main").classList.add("hidden"); return; }
  $("login").classList.add("hidden"); $("main").classList.remove("hidden");
  $("who").textContent = `${me.name || me.agent} (ext. ${me.extension}, ${me.firm})`;
  $("status").textContent = me.status;
  const sel = $("firms"); sel.textContent = "";
  for (const f of me.firms || []) {
    const o = document.createElement("option"); o.value = f.firm; o.textContent = f.firm; o.selected = f.firm === me.firm; sel.appendChild(o);
  }
  $("firm-pick").classList.toggle("hidden", !creds || (me.firms || []).length < 2);
  const cbs = await api("GET", "/api/callbacks?state=pending,dialing");
  const body = $("callbacks"); body.textContent = "";
  for (const c of cbs) {
    const tr = document.createElement("tr");
    cell(tr, c.caller); cell(tr, c.target); cell(tr, c.state + (c.claimed_by ? " (" + c.claimed_by + ")" : ""));
    cell(tr, new Date(c.created).toLocaleString());
    const td = cell(tr, "");
    const acts = c.state === "pending" ? ["claim", "done", "cancel"] : ["done", "cancel"];
    for (const a of acts) {
      const b = document.createElement("button"); b.textContent = a;
      b.onclick = () => api("POST", `/api/callbacks/${encodeURIComponent(c.id)}/${a}`).then(refresh, showError);
      td.appendChild(b);
    }
    const call = document.createElement("button"); call.textContent = "call";
    call.onclick = () => dial(c.caller); td.appendChild(call);
    body.appendChild(tr);
  }
}

async function dial(number) {
  try {
    const r = await api("POST", "/api/calls", { number });
    $("dial-result").textContent = `Your phone rings first, then ${number} (call ${r.id}).`;
  } catch (e) { showError(e); }
}

$("login-form").onsubmit = async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  creds = { username: f.get("username"), password: f.get("password"), domain: f.get("domain") };
  try { await api("POST", "/api/login", creds); ev.target.reset(); await refresh(); } catch (e) { creds = null; showError(e); }
};
$("firms").onchange = async () => {
  try { await api("POST", "/api/login", { ...creds, firm: $("firms").value }); await refresh(); } catch (e) { showError(e); }
};
$("logout").onclick = async () => { creds = null; await api("POST", "/api/logout").catch(showError); refresh(); };
for (const b of document.querySelectorAll("button[data-status]")) {
  b.onclick = async () => {
    try { const me = await api("GET", "/api/me"); await api("PUT", `/api/agents/${encodeURIComponent(me.agent)}/status`, { status: b.dataset.status }); refresh(); } catch (e) { showError(e); }
  };
}
$("dial-form").onsubmit = (ev) => { ev.preventDefault(); dial(new FormData(ev.target).get("number")); };
refresh();
