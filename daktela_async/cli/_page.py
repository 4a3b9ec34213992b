"""The dashboard's page: one HTML document with its CSS and JavaScript inline.

No CDN, no build step: the page opens an ``EventSource`` on ``events`` and keeps a
copy of the board from its messages (``hello``, ``agent``, ``queue``, ``sample``,
``source``, ``dropped``, ``ping``; see :mod:`daktela_async.cli._dashboard`). Every
text from the PBX is set with ``textContent``, never parsed as HTML.

Reconnection: the browser's ``EventSource`` retries by itself after a dropped stream
(the server's ``retry:`` field sets the delay); when the browser gives up (an error
answer, or the server gone at the first try) the page opens a new one with capped
backoff; and a stream silent for three heartbeats is reopened, which covers
connections that died without a close. Each new stream starts with ``hello`` and the
replayed current state, which replace what the page showed.
"""

from __future__ import annotations

import html
from typing import Final

__all__ = ["render_page"]

_PAGE: Final = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>__TITLE__</title>
<style>
:root {
  --idle: #2e9d4f; --ringing: #e0a800; --calling: #c98f00; --speaking: #d64541;
  --hold: #9b59b6; --paused: #3b7dd8; --logged: #7d838c; --offline: #4b5058;
  --bg: #13161b; --panel: #1c2027; --card: #242932; --text: #e6e8eb; --dim: #9aa0a8;
}
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.35 system-ui, -apple-system, "Segoe UI", sans-serif;
  background: var(--bg); color: var(--text); }
header { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 18px; padding: 10px 16px;
  background: var(--panel); position: sticky; top: 0; z-index: 1; }
h1 { font-size: 16px; margin: 0; }
h2 { font-size: 13px; margin: 0 0 8px; color: var(--dim); font-weight: 600;
  text-transform: uppercase; letter-spacing: .04em; }
#status::before { content: "\25CF  "; }
#status[data-state="live"] { color: var(--idle); }
#status[data-state="connecting"], #status[data-state="reconnecting"] { color: var(--ringing); }
#status[data-state="offline"] { color: var(--speaking); }
#clock { color: var(--dim); margin-left: auto; font-variant-numeric: tabular-nums; }
.counts { display: flex; flex-wrap: wrap; gap: 6px; }
.chip { padding: 1px 8px; border-radius: 9px; background: var(--card); border-left: 4px solid; }
#banner { display: none; background: #6e1f1f; padding: 6px 16px; }
#banner.show { display: block; }
main { display: grid; grid-template-columns: minmax(340px, 2fr) 3fr; gap: 16px; padding: 16px; }
@media (max-width: 960px) { main { grid-template-columns: 1fr; } }
section { background: var(--panel); border-radius: 8px; padding: 12px; margin-bottom: 16px; }
body.stale main { opacity: .55; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 6px; text-align: right; border-bottom: 1px solid #2b303a; }
th:first-child, td:first-child { text-align: left; }
th { color: var(--dim); font-weight: 500; }
td.hot { color: var(--speaking); font-weight: 700; }
td.good { color: var(--idle); }
#agents { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: 8px; }
.agent { background: var(--card); border-left: 6px solid var(--logged); border-radius: 6px;
  padding: 6px 8px; min-width: 0; }
.agent .top { display: flex; justify-content: space-between; gap: 6px; }
.agent .login { font-weight: 700; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.agent .time { font-variant-numeric: tabular-nums; color: var(--dim); }
.agent .name, .agent .caller { color: var(--dim); white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }
.agent .state { font-weight: 600; }
.agent .caller:empty::before { content: "\00a0"; }
.agent[data-state="Idle"] { border-color: var(--idle); }
.agent[data-state="Idle"] .state { color: var(--idle); }
.agent[data-state="Ringing"] { border-color: var(--ringing); }
.agent[data-state="Ringing"] .state { color: var(--ringing); }
.agent[data-state="Calling"] { border-color: var(--calling); }
.agent[data-state="Calling"] .state { color: var(--calling); }
.agent[data-state="Speaking"] { border-color: var(--speaking); }
.agent[data-state="Speaking"] .state { color: var(--speaking); }
.agent[data-state="On Hold"] { border-color: var(--hold); }
.agent[data-state="On Hold"] .state { color: var(--hold); }
.agent[data-state="Paused"] { border-color: var(--paused); }
.agent[data-state="Paused"] .state { color: var(--paused); }
.agent[data-state="Offline"] { border-color: var(--offline); opacity: .6; }
#chart { width: 100%; height: 170px; display: block; }
#chart .grid { stroke: #2b303a; stroke-width: 1; }
#chart text { fill: var(--dim); font-size: 11px; }
#line-waiting { fill: none; stroke: var(--speaking); stroke-width: 2; }
#line-ready { fill: none; stroke: var(--idle); stroke-width: 2; }
.legend { display: flex; gap: 16px; color: var(--dim); margin-top: 4px; }
.legend b { font-variant-numeric: tabular-nums; }
.swatch { display: inline-block; width: 12px; height: 3px; vertical-align: middle;
  margin-right: 5px; }
</style>
</head>
<body class="stale">
<header>
  <h1 id="title">__TITLE__</h1>
  <span id="status" data-state="connecting">connecting</span>
  <span id="counts" class="counts"></span>
  <span id="clock"></span>
</header>
<div id="banner" role="alert"></div>
<main>
  <div>
    <section>
      <h2>Queues</h2>
      <table id="queues">
        <thead><tr><th>Queue</th><th>Agents</th><th>Ready</th><th>Busy</th><th>Paused</th>
          <th>Calls</th><th>Waiting</th><th>Longest</th></tr></thead>
        <tbody></tbody>
      </table>
    </section>
    <section>
      <h2>Waiting calls and ready agents</h2>
      <svg id="chart" viewBox="0 0 600 170" preserveAspectRatio="none" role="img"
           aria-label="waiting calls and ready agents over the last minutes">
        <line class="grid" x1="30" y1="10" x2="600" y2="10"></line>
        <line class="grid" x1="30" y1="85" x2="600" y2="85"></line>
        <line class="grid" x1="30" y1="160" x2="600" y2="160"></line>
        <text id="y-max" x="0" y="14">0</text>
        <text id="y-mid" x="0" y="89"></text>
        <text x="0" y="164">0</text>
        <polyline id="line-ready" points=""></polyline>
        <polyline id="line-waiting" points=""></polyline>
      </svg>
      <div class="legend">
        <span><span class="swatch" style="background: var(--speaking)"></span>waiting calls
          <b id="now-waiting">0</b></span>
        <span><span class="swatch" style="background: var(--idle)"></span>ready agents
          <b id="now-ready">0</b></span>
        <span id="span"></span>
      </div>
    </section>
  </div>
  <section>
    <h2>Agents <span id="agent-count"></span></h2>
    <div id="agents"></div>
  </section>
</main>
<script>
"use strict";
const CHART = { left: 30, right: 600, top: 10, bottom: 160 };
const S = {
  agents: new Map(), cards: new Map(), queues: new Map(), samples: [], outages: new Map(),
  offset: 0, es: null, backoff: 1000, lastMessage: Date.now(), heartbeat: 15000,
  pending: new Set(), sortNeeded: false, flushTimer: null,
};
const $ = (id) => document.getElementById(id);

function serverNow() { return Date.now() + S.offset; }

function fmt(ms) {
  let s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600); s %= 3600;
  const m = Math.floor(s / 60); s %= 60;
  const ss = String(s).padStart(2, "0");
  return h ? h + ":" + String(m).padStart(2, "0") + ":" + ss : m + ":" + ss;
}

function setStatus(state, text) {
  const el = $("status");
  el.dataset.state = state;
  el.textContent = text;
  document.body.classList.toggle("stale", state !== "live");
}

function card(user) {
  let el = S.cards.get(user);
  if (!el) {
    el = document.createElement("div");
    el.className = "agent";
    el.dataset.user = user;
    for (const part of ["top", "name", "state", "caller"]) {
      const div = document.createElement("div");
      div.className = part;
      el.appendChild(div);
    }
    const login = document.createElement("span");
    login.className = "login";
    const time = document.createElement("span");
    time.className = "time";
    el.querySelector(".top").append(login, time);
    S.cards.set(user, el);
    S.sortNeeded = true;
  }
  return el;
}

function renderAgent(a) {
  const el = card(a.user);
  el.dataset.state = a.state;
  el.querySelector(".login").textContent = a.user;
  el.querySelector(".login").title = a.exten ? a.user + " @ " + a.exten : a.user;
  el.querySelector(".name").textContent = a.title || "";
  el.querySelector(".state").textContent =
    a.state === "Paused" && a.pause ? a.state + " \u00b7 " + a.pause : a.state;
  let caller = "";
  if (a.call) {
    caller = (a.call.direction === "in" ? "\u2190 " : "\u2192 ") + a.call.caller;
    if (a.call.queue) caller += " \u00b7 " + a.call.queue;
    if (a.calls > 1) caller += " (+" + (a.calls - 1) + ")";
  } else if (a.error) {
    caller = a.error;
  }
  el.querySelector(".caller").textContent = caller;
  el.querySelector(".time").textContent = fmt(serverNow() - a.since);
}

function removeAgent(user) {
  S.agents.delete(user);
  const el = S.cards.get(user);
  if (el) el.remove();
  S.cards.delete(user);
  S.pending.delete(user);
}

function flush() {
  S.flushTimer = null;
  for (const user of S.pending) {
    const a = S.agents.get(user);
    if (a) renderAgent(a);
  }
  S.pending.clear();
  if (S.sortNeeded) {
    const box = $("agents");
    for (const user of [...S.cards.keys()].sort()) box.appendChild(S.cards.get(user));
    S.sortNeeded = false;
  }
  renderCounts();
}

function schedule() {
  if (S.flushTimer === null) S.flushTimer = setTimeout(flush, 40);
}

function renderCounts() {
  const counts = new Map();
  for (const a of S.agents.values()) counts.set(a.state, (counts.get(a.state) || 0) + 1);
  const box = $("counts");
  box.textContent = "";
  const colours = { "Idle": "--idle", "Ringing": "--ringing", "Calling": "--calling",
    "Speaking": "--speaking", "On Hold": "--hold", "Paused": "--paused",
    "Logged": "--logged", "Offline": "--offline" };
  for (const state of [...counts.keys()].sort()) {
    const chip = document.createElement("span");
    chip.className = "chip";
    chip.dataset.state = state;
    chip.style.borderColor = "var(" + (colours[state] || "--logged") + ")";
    chip.textContent = state + " " + counts.get(state);
    box.appendChild(chip);
  }
  $("agent-count").textContent = "(" + S.agents.size + ")";
}

function renderQueues() {
  const body = $("queues").tBodies[0];
  body.textContent = "";
  const rows = [...S.queues.values()].sort((a, b) =>
    a.title === b.title ? (a.id < b.id ? -1 : 1) : (a.title < b.title ? -1 : 1));
  for (const q of rows) {
    const tr = document.createElement("tr");
    tr.dataset.queue = q.id;
    const cells = [q.title, q.total, q.ready, q.busy, q.paused, q.calls, q.waiting,
      q.waiting ? fmt(q.longest * 1000) : ""];
    cells.forEach((value, i) => {
      const td = document.createElement("td");
      td.textContent = String(value);
      if (i === 6 && q.waiting) td.className = "hot";
      if (i === 2 && q.ready) td.className = "good";
      tr.appendChild(td);
    });
    body.appendChild(tr);
  }
}

function renderBanner() {
  const el = $("banner");
  const lines = [...S.outages.entries()].map(([source, error]) => source + " failing: " + error);
  el.textContent = lines.join(" \u2014 ");
  el.classList.toggle("show", lines.length > 0);
}

function drawChart() {
  const samples = S.samples;
  const last = samples.length ? samples[samples.length - 1] : null;
  $("now-waiting").textContent = last ? last[1] : 0;
  $("now-ready").textContent = last ? last[2] : 0;
  if (samples.length < 2) {
    $("line-waiting").setAttribute("points", "");
    $("line-ready").setAttribute("points", "");
    return;
  }
  const t0 = samples[0][0], t1 = last[0];
  let top = 4;
  for (const s of samples) top = Math.max(top, s[1], s[2]);
  top = Math.ceil(top / 2) * 2;
  const x = (t) => CHART.left + (CHART.right - CHART.left) * (t - t0) / Math.max(1, t1 - t0);
  const y = (v) => CHART.bottom - (CHART.bottom - CHART.top) * v / top;
  const line = (i) => samples.map((s) => x(s[0]).toFixed(1) + "," + y(s[i]).toFixed(1)).join(" ");
  $("line-waiting").setAttribute("points", line(1));
  $("line-ready").setAttribute("points", line(2));
  $("y-max").textContent = String(top);
  $("y-mid").textContent = String(top / 2);
  $("span").textContent = "last " + fmt(t1 - t0);
}

function applySnapshot(snap) {
  S.offset = snap.now - Date.now();
  const seen = new Set();
  for (const a of snap.agents) { seen.add(a.user); S.agents.set(a.user, a); S.pending.add(a.user); }
  for (const user of [...S.agents.keys()]) if (!seen.has(user)) removeAgent(user);
  S.queues = new Map(snap.queues.map((q) => [q.id, q]));
  S.outages = new Map(Object.entries(snap.outages));
  if (snap.samples) S.samples = snap.samples;
  renderQueues(); renderBanner(); drawChart(); schedule();
}

function handle(m) {
  S.lastMessage = Date.now();
  switch (m.type) {
    case "hello": {
      S.offset = m.now - Date.now();
      S.heartbeat = m.heartbeat || S.heartbeat;
      if (m.title) { document.title = m.title; $("title").textContent = m.title; }
      const users = new Set(m.users);
      for (const user of [...S.agents.keys()]) if (!users.has(user)) removeAgent(user);
      S.samples = m.samples;
      S.outages = new Map();
      renderBanner(); drawChart();
      setStatus("live", "live");
      break;
    }
    case "agent":
      S.agents.set(m.user, m); S.pending.add(m.user); schedule();
      break;
    case "queue":
      if (m.removed) S.queues.delete(m.id); else S.queues.set(m.id, m);
      renderQueues();
      break;
    case "sample":
      S.samples.push([m.t, m.waiting, m.ready]);
      if (S.samples.length > m.keep) S.samples.splice(0, S.samples.length - m.keep);
      drawChart();
      break;
    case "source":
      if (m.ok) S.outages.delete(m.source); else S.outages.set(m.source, m.error);
      renderBanner();
      break;
    case "dropped":
      fetch("snapshot").then((r) => r.json()).then(applySnapshot).catch(() => {});
      break;
    case "ping":
      S.offset = m.now - Date.now();
      break;
  }
}

function connect() {
  if (S.es) S.es.close();
  const es = new EventSource("events");
  S.es = es;
  S.lastMessage = Date.now();
  es.onopen = () => { S.backoff = 1000; };
  es.onmessage = (e) => {
    let m;
    try { m = JSON.parse(e.data); } catch (err) { return; }
    handle(m);
  };
  es.onerror = () => {
    if (es !== S.es) return;
    if (es.readyState === EventSource.CLOSED) {
      setStatus("offline", "offline, retrying");
      setTimeout(() => { if (es === S.es) connect(); }, S.backoff);
      S.backoff = Math.min(S.backoff * 2, 15000);
    } else {
      setStatus("reconnecting", "reconnecting");
    }
  };
}

setInterval(() => {
  const now = serverNow();
  for (const [user, el] of S.cards) {
    const a = S.agents.get(user);
    if (a) el.querySelector(".time").textContent = fmt(now - a.since);
  }
  $("clock").textContent = new Date().toLocaleTimeString();
  if (Date.now() - S.lastMessage > 3 * S.heartbeat) {
    setStatus("reconnecting", "reconnecting");
    connect();
  }
}, 1000);

connect();
</script>
</body>
</html>
"""


def render_page(title: str) -> str:
    """The page, titled *title* (escaped)."""
    return _PAGE.replace("__TITLE__", html.escape(title))
