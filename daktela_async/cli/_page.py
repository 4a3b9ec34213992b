"""The dashboard's page: one HTML document with its CSS and JavaScript inline.

No CDN, no build step: the page opens an ``EventSource`` on ``events`` and keeps a
copy of the board from its messages (``hello``, ``agent``, ``queue``, ``sample``,
``source``, ``dropped``, ``ping``, and the events ``source_failed``,
``source_recovered`` and ``queue_day``; see :mod:`daktela_async.cli._dashboard`). A
message's kind is its ``kind`` key, or ``type`` for the board's own messages. Every
text from the PBX is set with ``textContent``, never parsed as HTML.

A wallboard. What it shows:

- Today's figures per queue (``queue_day`` events of the ``today`` stats source): a
  tile with the service level (red below ``sl_target``), answered, abandoned, ASA,
  AHT and the day's longest wait, and the live waiting calls; the service level also
  in the queue table's SL column.
- Agents ordered by state, then by time in state (the longest first): ringing; on a
  call (calling, speaking, on hold); ready (idle); paused; not ready (``Logged``,
  wrap-up, any other state); offline. Or by time in state alone, or by login.
- Alarms in red, and only alarms: a pause longer than ``pause_alarm``, a queue's
  longest waiting call over its service-level threshold, a service level under
  ``sl_target``, an outage. Speaking is a calm blue; waiting calls are amber.
- The waiting calls and ready agents of the last hour (the server keeps an hour of
  samples).

URL parameters (the sort and queue selectors write theirs into the URL, so a TV's
address keeps them):

- ``sort=state|time|login`` (``state``).
- ``queue=ID[,ID...]``: only these queues' rows and tiles (agents are not filtered:
  their queue logins are not on the board).
- ``pause_alarm=MINUTES`` (10; fractions allowed; 0 turns it off).
- ``sl_threshold=SECONDS`` (20): the wait that turns a queue's longest waiting call
  red, where the day's figures do not give the queue's own threshold.
- ``sl_target=PERCENT`` (80).
- ``history=MINUTES`` (60, at most 60): the chart's span.
- ``down_after=SECONDS`` (60): how long an outage or a lost stream stays amber.
- ``tv=1``: TV mode: type from 1.5 % of the width (about 29 px at 1920x1080), today's
  tiles across the top, no controls, no scrollbars; agent cards that do not fit are
  counted ("+12 more").

Outages. A failing source (``source_failed``, dated from its first failure) puts a
banner in words, never the error's text (``PBX unreachable since 10:42:05, figures may
be stale.``; the details go to the browser's console), turns the status pill amber
(``stale``) and, after ``down_after`` or when the source stopped retrying, red; the
parts fed by that source are greyed with their age (``updated 42 s ago``). A lost
stream does the same for the whole page. Recovery (``source_recovered``, or the
replay of a new stream) clears it. On screens narrower than 640 px the queue table
keeps Queue, Ready, Waiting, Longest and SL (and Paused above 420 px).

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
  --idle: #2e9d4f; --ringing: #e0a800; --calling: #c98f00; --speaking: #4f8fc0;
  --hold: #9b6fc6; --paused: #8a93c9; --logged: #7d838c; --offline: #4b5058;
  --ok: #2e9d4f; --warn: #e0a800; --alarm: #e5484d;
  --bg: #13161b; --panel: #1c2027; --card: #242932; --text: #e6e8eb; --dim: #9aa0a8;
}
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.35 system-ui, -apple-system, "Segoe UI", sans-serif;
  background: var(--bg); color: var(--text); }
header { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 16px; padding: 10px 16px;
  background: var(--panel); position: sticky; top: 0; z-index: 1; }
h1 { font-size: 1.1em; margin: 0; min-width: 0; overflow-wrap: anywhere; }
h2 { font-size: .87em; margin: 0 0 8px; color: var(--dim); font-weight: 600;
  text-transform: uppercase; letter-spacing: .04em; }
h2 .age, h2 #more { text-transform: none; letter-spacing: 0; font-weight: 400; }
#status { padding: 1px 10px; border-radius: 10px; font-weight: 600; color: #111;
  background: var(--warn); white-space: nowrap; }
#status[data-level="ok"] { background: var(--ok); }
#status[data-level="alarm"] { background: var(--alarm); color: #fff; }
#clock { color: var(--dim); margin-left: auto; font-variant-numeric: tabular-nums; }
.counts { display: flex; flex-wrap: wrap; gap: 6px; }
.chip { padding: 1px 8px; border-radius: 9px; background: var(--card); border-left: 4px solid;
  white-space: nowrap; }
.controls { display: flex; flex-wrap: wrap; gap: 6px 12px; color: var(--dim); }
.controls select { font: inherit; background: var(--card); color: var(--text);
  border: 1px solid #3a404b; border-radius: 4px; max-width: 11em; }
#banner { display: none; background: #7a2020; color: #fff; padding: 8px 16px; font-weight: 600; }
#banner.show { display: block; }
#banner[data-level="warn"] { background: #6b5200; }
main { display: grid; grid-template-columns: minmax(0, 2fr) minmax(0, 3fr); gap: 16px;
  padding: 16px; }
main > * { min-width: 0; }
@media (max-width: 960px) { main { grid-template-columns: minmax(0, 1fr); } }
section { background: var(--panel); border-radius: 8px; padding: 12px; margin-bottom: 16px;
  min-width: 0; }
.age { color: var(--warn); font-size: .9em; }
.age:empty { display: none; }
/* Stale figures: greyed, their age beside them. */
section.stale #agents, section.stale table, section.stale .tile, section.stale #chart {
  filter: grayscale(1); opacity: .45; }
#today-section { display: none; }
#today-section.has { display: block; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(13em, 1fr)); gap: 8px; }
.tile { background: var(--card); border-radius: 6px; padding: 8px 10px; min-width: 0; }
.tile .tname { font-weight: 700; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.tile .sl { display: flex; align-items: baseline; gap: 8px; flex-wrap: wrap; }
.tile .big { font-size: 2.4em; font-weight: 700; line-height: 1.1;
  font-variant-numeric: tabular-nums; }
.tile .sl-note { color: var(--dim); font-size: .85em; }
.tile .figs { display: grid; grid-template-columns: repeat(auto-fill, minmax(5.5em, 1fr));
  gap: 2px 10px; margin: 6px 0 0; }
.tile .figs div { min-width: 0; }
.tile dt { color: var(--dim); font-size: .8em; }
.tile dd { margin: 0; font-weight: 600; font-variant-numeric: tabular-nums; }
.tile .now { margin-top: 4px; color: var(--dim); }
.tile .now:empty { display: none; }
.good { color: var(--ok); }
.warn { color: var(--warn); font-weight: 700; }
.alarm { color: var(--alarm); font-weight: 700; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 6px; text-align: right; border-bottom: 1px solid #2b303a;
  white-space: nowrap; }
th:first-child, td:first-child { text-align: left; white-space: normal;
  overflow-wrap: break-word; }
th { color: var(--dim); font-weight: 500; }
/* Narrow screens keep the columns a supervisor reads first: waiting, longest, SL. */
@media (max-width: 640px) {
  header { padding: 8px 10px; }
  main { padding: 8px; gap: 8px; }
  section { padding: 8px; margin-bottom: 8px; }
  header { position: static; }
  th, td { padding: 4px 3px; }
  td:first-child { overflow-wrap: anywhere; }
  .opt { display: none; }
}
@media (max-width: 420px) { .opt2 { display: none; } }
#agents { display: grid; grid-template-columns: repeat(auto-fill, minmax(12.5em, 1fr)); gap: 8px; }
.agent { background: var(--card); border-left: 6px solid var(--logged); border-radius: 6px;
  padding: 6px 8px; min-width: 0; }
.agent .top { display: flex; justify-content: space-between; gap: 6px; }
.agent .login { font-weight: 700; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.agent .time { font-variant-numeric: tabular-nums; color: var(--dim); }
.agent .name, .agent .caller { color: var(--dim); white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }
.agent .state { font-weight: 600; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
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
/* Alarms (a pause longer than pause_alarm minutes) are the only red cards. */
.agent.alarm { border-color: var(--alarm); background: #3a1f22; }
.agent.alarm .state, .agent.alarm .time { color: var(--alarm); font-weight: 700; }
#chart { width: 100%; height: 185px; display: block; }
#chart .grid { stroke: #2b303a; stroke-width: 1; }
#chart text { fill: var(--dim); font-size: .75em; }
#line-waiting { fill: none; stroke: var(--warn); stroke-width: 2; }
#line-ready { fill: none; stroke: var(--idle); stroke-width: 2; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; color: var(--dim); margin-top: 4px; }
.legend b { font-variant-numeric: tabular-nums; }
.swatch { display: inline-block; width: 12px; height: 3px; vertical-align: middle;
  margin-right: 5px; }
#more:empty { display: none; }
/* TV mode (?tv=1): large type, the whole board in the viewport, no scrollbars. Today's
   tiles span the top; the queues and the chart sit under them on the left, the agents
   on the right; agents that do not fit are counted ("+12 more"), never scrolled to. */
html.tv, body.tv { height: 100%; overflow: hidden; }
body.tv { font-size: clamp(16px, 1.5vw, 56px); display: flex; flex-direction: column; }
body.tv header { position: static; padding: .3em .6em; gap: .3em .8em; }
body.tv .controls { display: none; }
body.tv main { flex: 1; min-height: 0; padding: .4em; gap: .4em; overflow: hidden;
  grid-template-columns: minmax(0, 2fr) minmax(0, 3fr);
  grid-template-rows: auto auto minmax(0, 1fr); }
body.tv main > .col { display: contents; }
body.tv section { margin: 0; padding: .3em .5em; overflow: hidden; min-height: 0; }
body.tv #today-section { grid-column: 1 / -1; grid-row: 1; }
body.tv #queues-section { grid-column: 1; grid-row: 2; }
body.tv #chart-section { grid-column: 1; grid-row: 3; display: flex; flex-direction: column; }
body.tv #chart { flex: 1; min-height: 3em; height: auto; }
body.tv #agents-section { grid-column: 2; grid-row: 2 / 4; display: flex;
  flex-direction: column; }
body.tv #agents { flex: 1; min-height: 0; overflow: hidden; align-content: start;
  grid-template-columns: repeat(auto-fill, minmax(8.5em, 1fr)); gap: .3em; }
body.tv .agent { padding: .15em .35em; border-left-width: .25em; }
body.tv .agent.cut { visibility: hidden; }
body.tv .agent .name, body.tv .agent .caller { display: none; }
body.tv .tiles { grid-template-columns: repeat(auto-fit, minmax(11em, 1fr)); gap: .3em; }
body.tv .tile { padding: .2em .4em; display: grid; grid-template-columns: auto minmax(0, 1fr);
  column-gap: .7em; align-items: start; align-content: start; }
body.tv .tile > :not(.sl):not(.figs) { grid-column: 1 / -1; }
body.tv .tile .sl { flex-direction: column; gap: 0; }
body.tv .tile .figs { grid-template-columns: repeat(3, minmax(0, 1fr)); margin: 0; }
body.tv .tile dt { font-size: .72em; overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap; }
body.tv th, body.tv td { padding: .1em .3em; }
body.tv .opt:not(.opt2) { display: none; }
@media (max-width: 960px) {
  body.tv main { grid-template-columns: minmax(0, 1fr); grid-template-rows: none; }
  body.tv main > * { grid-column: auto !important; grid-row: auto !important; }
}
</style>
</head>
<body>
<header>
  <h1 id="title">__TITLE__</h1>
  <span id="status" data-state="connecting" data-level="warn">connecting</span>
  <span id="counts" class="counts"></span>
  <span class="controls">
    <label>Sort <select id="sort">
      <option value="state">by state</option>
      <option value="time">by time in state</option>
      <option value="login">by login</option>
    </select></label>
    <label>Queue <select id="queue-filter"><option value="">all queues</option></select></label>
  </span>
  <span id="clock"></span>
</header>
<div id="banner" role="alert"></div>
<main>
  <div class="col">
    <section id="today-section">
      <h2>Today <span class="age"></span></h2>
      <div id="today" class="tiles"></div>
    </section>
    <section id="queues-section">
      <h2>Queues now <span class="age"></span></h2>
      <table id="queues">
        <thead><tr><th>Queue</th><th class="opt">Agents</th><th>Ready</th>
          <th class="opt">Busy</th><th class="opt opt2">Paused</th><th class="opt">Calls</th>
          <th>Waiting</th><th>Longest</th><th title="service level today">SL</th></tr></thead>
        <tbody></tbody>
      </table>
    </section>
    <section id="chart-section">
      <h2>Waiting calls and ready agents <span class="age"></span></h2>
      <svg id="chart" viewBox="0 0 600 185" role="img"
           aria-label="waiting calls and ready agents over the last hour">
        <line id="g-top" class="grid"></line>
        <line id="g-mid" class="grid"></line>
        <line id="g-bottom" class="grid"></line>
        <text id="y-max" x="0">0</text>
        <text id="y-mid" x="0"></text>
        <text id="y-zero" x="0">0</text>
        <text id="x-start"></text>
        <text id="x-now" text-anchor="end">now</text>
        <polyline id="line-ready" points=""></polyline>
        <polyline id="line-waiting" points=""></polyline>
      </svg>
      <div class="legend">
        <span><span class="swatch" style="background: var(--warn)"></span>waiting calls
          <b id="now-waiting">0</b></span>
        <span><span class="swatch" style="background: var(--idle)"></span>ready agents
          <b id="now-ready">0</b></span>
        <span id="span"></span>
      </div>
    </section>
  </div>
  <section id="agents-section">
    <h2>Agents <span id="agent-count"></span> <span class="age"></span> <span id="more"></span></h2>
    <div id="agents"></div>
  </section>
</main>
<script>
"use strict";
// --- settings from the URL ------------------------------------------------------------------
const PARAMS = new URLSearchParams(location.search);
function numParam(name, fallback, min, max) {
  const raw = PARAMS.get(name);
  const value = raw === null || raw.trim() === "" ? NaN : Number(raw);
  return Number.isFinite(value) && value >= min && value <= max ? value : fallback;
}
function idList(values) {
  return values.join(",").split(",").map((s) => s.trim()).filter(Boolean);
}
const SORTS = ["state", "time", "login"];
const CONFIG = {
  sort: SORTS.includes(PARAMS.get("sort")) ? PARAMS.get("sort") : "state",
  pauseAlarm: numParam("pause_alarm", 10, 0, 1440) * 60000,
  slThreshold: numParam("sl_threshold", 20, 1, 3600),
  slTarget: numParam("sl_target", 80, 0, 100),
  history: numParam("history", 60, 1, 60) * 60000,
  downAfter: numParam("down_after", 60, 1, 3600) * 1000,
  tv: ["1", "true", "yes"].includes(PARAMS.get("tv")),
  queues: new Set(idList(PARAMS.getAll("queue"))),
};
// Agents by state: ringing, on a call, ready, paused, not ready (wrap-up, logged), offline;
// within a state the longest in it first.
const RANK = new Map([["Ringing", 0], ["Calling", 1], ["Speaking", 1], ["On Hold", 1],
  ["Idle", 2], ["Paused", 3], ["Logged", 4], ["Offline", 5]]);
const COLOURS = { "Idle": "--idle", "Ringing": "--ringing", "Calling": "--calling",
  "Speaking": "--speaking", "On Hold": "--hold", "Paused": "--paused",
  "Logged": "--logged", "Offline": "--offline" };
// Which sources each part of the page is made of (what greys it during an outage).
const PARTS = { "agents-section": ["agents"], "queues-section": ["stats:queues"],
  "today-section": ["stats:today"], "chart-section": ["stats:summary", "stats:queues"] };
const SOURCE_NAMES = { "agents": "agent states", "stats:queues": "queue figures",
  "stats:summary": "totals", "stats:today": "today's figures" };
const CHART = { left: 30, right: 600, top: 10, bottom: 160, width: 0, height: 0 };
const S = {
  agents: new Map(), cards: new Map(), queues: new Map(), today: new Map(), samples: [],
  outages: new Map(), offset: 0, es: null, backoff: 1000, lastMessage: Date.now(),
  heartbeat: 15000, pending: new Set(), sortNeeded: false, flushTimer: null,
  conn: "connecting", everLive: false, connLost: 0,
};
const $ = (id) => document.getElementById(id);

function serverNow() { return Date.now() + S.offset; }

/** Milliseconds since the epoch from a number (ms) or an ISO 8601 string. */
function millis(value) {
  if (typeof value === "number") return value;
  if (typeof value === "string") { const t = Date.parse(value); if (!Number.isNaN(t)) return t; }
  return serverNow();
}

function fmt(ms) {
  let s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600); s %= 3600;
  const m = Math.floor(s / 60); s %= 60;
  const ss = String(s).padStart(2, "0");
  return h ? h + ":" + String(m).padStart(2, "0") + ":" + ss : m + ":" + ss;
}

function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min";
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
}

/** A server instant as the wall clock shows it here (10:42:05). */
function clockTime(serverMs) {
  return new Date(serverMs - S.offset).toLocaleTimeString([], {
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
}

function setParam(name, value) {
  const url = new URL(location.href);
  if (value) url.searchParams.set(name, value); else url.searchParams.delete(name);
  history.replaceState(null, "", url);
}

// --- agents ---------------------------------------------------------------------------------
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

function pauseAlarm(a, now) {
  return CONFIG.pauseAlarm > 0 && a.state === "Paused" && now - a.since >= CONFIG.pauseAlarm;
}

function renderAgent(a) {
  const el = card(a.user);
  el.dataset.state = a.state;
  el.dataset.since = String(a.since);
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
  const now = serverNow();
  el.querySelector(".time").textContent = fmt(now - a.since);
  el.classList.toggle("alarm", pauseAlarm(a, now));
}

function removeAgent(user) {
  S.agents.delete(user);
  const el = S.cards.get(user);
  if (el) el.remove();
  S.cards.delete(user);
  S.pending.delete(user);
}

function compareAgents(a, b) {
  const byLogin = a.user < b.user ? -1 : (a.user > b.user ? 1 : 0);
  if (CONFIG.sort === "login") return byLogin;
  if (CONFIG.sort === "state") {
    const d = (RANK.has(a.state) ? RANK.get(a.state) : 4) -
      (RANK.has(b.state) ? RANK.get(b.state) : 4);
    if (d) return d;
  }
  return a.since - b.since || byLogin;
}

function orderAgents() {
  const box = $("agents");
  const wanted = [...S.agents.values()].sort(compareAgents).map((a) => S.cards.get(a.user));
  const shown = [...box.children];
  if (wanted.length !== shown.length || wanted.some((el, i) => el !== shown[i])) {
    for (const el of wanted) if (el) box.appendChild(el);
  }
  S.sortNeeded = false;
  countHidden();
}

/** In TV mode the cards that do not fit are cut off: say how many. */
function countHidden() {
  let hidden = 0;
  if (CONFIG.tv) {
    const box = $("agents");
    const bottom = box.getBoundingClientRect().bottom + 1;
    for (const el of box.children) {
      const cut = el.getBoundingClientRect().bottom > bottom;
      el.classList.toggle("cut", cut);
      if (cut) hidden += 1;
    }
  }
  $("more").textContent = hidden ? "+" + hidden + " more" : "";
}

function flush() {
  S.flushTimer = null;
  const changed = S.pending.size > 0;
  for (const user of S.pending) {
    const a = S.agents.get(user);
    if (a) renderAgent(a);
  }
  S.pending.clear();
  if (changed || S.sortNeeded) orderAgents();
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
  const states = [...counts.keys()].sort((a, b) =>
    (RANK.has(a) ? RANK.get(a) : 4) - (RANK.has(b) ? RANK.get(b) : 4) || (a < b ? -1 : 1));
  for (const state of states) {
    const chip = document.createElement("span");
    chip.className = "chip";
    chip.dataset.state = state;
    chip.style.borderColor = "var(" + (COLOURS[state] || "--logged") + ")";
    chip.textContent = state + " " + counts.get(state);
    box.appendChild(chip);
  }
  $("agent-count").textContent = "(" + S.agents.size + ")";
}

// --- queues and today's figures -------------------------------------------------------------
function shownQueue(id) { return CONFIG.queues.size === 0 || CONFIG.queues.has(String(id)); }

function queueTitle(id) {
  const q = S.queues.get(id);
  return q && q.title ? q.title : "Queue " + id;
}

/** The service-level threshold of a queue, in seconds (its day figures say, else ?sl_threshold). */
function threshold(id) {
  const d = S.today.get(id);
  return d && d.threshold ? Number(d.threshold) : CONFIG.slThreshold;
}

function slText(d) {
  if (!d || d.service_level === null || d.service_level === undefined) return "\u2013";
  return Math.round(Number(d.service_level) * 100) + "%";
}

function slClass(d) {
  if (!d || d.service_level === null || d.service_level === undefined) return "";
  return Number(d.service_level) * 100 < CONFIG.slTarget ? "alarm" : "good";
}

function seconds(value) {
  return value === null || value === undefined ? "\u2013" : fmt(Number(value) * 1000);
}

function queueIds() {
  const ids = new Set([...S.queues.keys(), ...S.today.keys()]);
  return [...ids].sort((a, b) => {
    const ta = queueTitle(a), tb = queueTitle(b);
    return ta === tb ? (a < b ? -1 : 1) : (ta < tb ? -1 : 1);
  });
}

function renderQueues() {
  const body = $("queues").tBodies[0];
  body.textContent = "";
  const classes = ["", "opt", "", "opt", "opt opt2", "opt", "", "", ""];
  for (const id of queueIds()) {
    const q = S.queues.get(id);
    if (!q || !shownQueue(id)) continue;
    const d = S.today.get(id);
    const tr = document.createElement("tr");
    tr.dataset.queue = q.id;
    const longAlarm = q.waiting && q.longest > threshold(id);
    const cells = [q.title, q.total, q.ready, q.busy, q.paused, q.calls, q.waiting,
      q.waiting ? fmt(q.longest * 1000) : "", slText(d)];
    cells.forEach((value, i) => {
      const td = document.createElement("td");
      td.textContent = String(value);
      const cls = [classes[i]];
      if (i === 2 && q.ready) cls.push("good");
      if (i === 6 && q.waiting) cls.push("warn");
      if (i === 7 && longAlarm) cls.push("alarm");
      if (i === 8) cls.push(slClass(d));
      td.className = cls.filter(Boolean).join(" ");
      if (i === 7) td.dataset.col = "longest";
      if (i === 8) td.dataset.col = "sl";
      tr.appendChild(td);
    });
    body.appendChild(tr);
  }
  renderToday();
  renderFilter();
}

function figure(dl, label, value, cls) {
  const div = document.createElement("div");
  const dt = document.createElement("dt");
  dt.textContent = label;
  const dd = document.createElement("dd");
  dd.textContent = String(value);
  if (cls) dd.className = cls;
  div.append(dt, dd);
  dl.appendChild(div);
  return dd;
}

function renderToday() {
  const box = $("today");
  box.textContent = "";
  $("today-section").classList.toggle("has", S.today.size > 0);
  for (const id of queueIds()) {
    const d = S.today.get(id);
    if (!d || !shownQueue(id)) continue;
    const q = S.queues.get(id);
    const tile = document.createElement("div");
    tile.className = "tile";
    tile.dataset.queue = id;
    const name = document.createElement("div");
    name.className = "tname";
    name.textContent = queueTitle(id);
    const sl = document.createElement("div");
    sl.className = "sl";
    const big = document.createElement("span");
    big.className = "big " + slClass(d);
    big.dataset.col = "sl";
    big.textContent = slText(d);
    const note = document.createElement("span");
    note.className = "sl-note";
    note.textContent = "SL \u2264 " + threshold(id) + " s";
    sl.append(big, note);
    const dl = document.createElement("dl");
    dl.className = "figs";
    figure(dl, "Answered", d.answered ?? 0);
    figure(dl, "Abandoned", d.abandoned ?? 0, d.abandoned ? "warn" : "");
    figure(dl, "ASA", seconds(d.asa));
    figure(dl, "AHT", seconds(d.aht));
    figure(dl, "Longest", seconds(d.longest_wait));
    const now = document.createElement("div");
    now.className = "now";
    if (q && q.waiting) {
      now.textContent = q.waiting + " waiting, longest " + fmt(q.longest * 1000);
      if (q.longest > threshold(id)) now.className = "now alarm";
    }
    const age = document.createElement("div");
    age.className = "age";
    tile.append(name, sl, dl, now, age);
    box.appendChild(tile);
  }
  renderStale();
}

function renderFilter() {
  const select = $("queue-filter");
  const wanted = [...CONFIG.queues].sort().join(",");
  const options = [["", "all queues"]];
  for (const id of queueIds()) options.push([id, queueTitle(id)]);
  if (wanted && !options.some(([value]) => value === wanted)) {
    options.push([wanted, CONFIG.queues.size > 1 ? CONFIG.queues.size + " queues" : wanted]);
  }
  const key = JSON.stringify(options);
  if (select.dataset.key !== key) {
    select.textContent = "";
    for (const [value, text] of options) {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = text;
      select.appendChild(option);
    }
    select.dataset.key = key;
  }
  select.value = wanted;
}

function handleDay(m) {
  const current = "current" in m ? m.current : m;
  const id = String(m.queue ?? (current && current.queue));
  if (current === null || current === undefined || m.removed) S.today.delete(id);
  else S.today.set(id, current);
  renderQueues();
}

// --- outages --------------------------------------------------------------------------------
function activeOutages() {
  return [...S.outages.entries()].filter(([source]) => !source.startsWith("agent:"));
}

function sourceFailed(source, since, exact, stopped, type) {
  if (source.startsWith("agent:")) return;
  const old = S.outages.get(source);
  if (old && old.exact && exact) since = Math.min(old.since, since);
  else if (old && !exact) since = old.since;
  S.outages.set(source, { since, exact: exact || Boolean(old && old.exact),
    stopped: stopped || Boolean(old && old.stopped),
    type: type || (old ? old.type : "") });
  renderOutage();
}

function sourceRecovered(source) {
  if (S.outages.delete(source)) renderOutage();
}

function renderOutage() { renderBanner(); renderStatus(); renderStale(); }

/** Whether an outage is the PBX's as a whole (unreachable), not one table's. */
function pbxDown(source, o) {
  return source === "agents" || /connect|timeout|transport|network/i.test(o.type || "connect");
}

/** The banner: what a person needs to know, never an error's text. */
function renderBanner() {
  const el = $("banner");
  let text = "", level = "alarm";
  const out = activeOutages();
  if (S.conn !== "live" && S.everLive) {
    text = "No connection to the dashboard since " + clockTime(S.connLost + S.offset) +
      ", figures may be stale. Reconnecting\u2026";
    level = Date.now() - S.connLost < CONFIG.downAfter ? "warn" : "alarm";
  } else if (out.length) {
    const since = Math.min(...out.map(([, o]) => o.since));
    const stopped = out.some(([, o]) => o.stopped);
    const unreachable = out.some(([source, o]) => pbxDown(source, o));
    if (stopped && out.some(([, o]) => /auth/i.test(o.type))) {
      text = "The PBX refused the dashboard's access at " + clockTime(since) +
        "; figures are frozen until the dashboard is restarted with a valid token.";
    } else if (stopped) {
      text = "Lost the PBX at " + clockTime(since) + " and stopped retrying; figures are frozen.";
    } else if (unreachable) {
      text = "PBX unreachable since " + clockTime(since) + ", figures may be stale.";
    } else {
      const what = out.map(([source]) => SOURCE_NAMES[source] ||
        source.replace(/^stats:/, "") + " figures").join(", ");
      text = "Not updating since " + clockTime(since) + ": " + what + "; they may be stale.";
    }
    level = stopped || serverNow() - since >= CONFIG.downAfter ? "alarm" : "warn";
  }
  el.textContent = text;
  el.dataset.level = level;
  el.classList.toggle("show", text !== "");
}

/** The pill: green live; amber connecting or stale (under a minute); red down, stopped, offline. */
function renderStatus() {
  let state, text, level;
  if (S.conn !== "live") {
    if (!S.everLive) [state, text, level] = ["connecting", "connecting", "warn"];
    else if (Date.now() - S.connLost < CONFIG.downAfter)
      [state, text, level] = ["reconnecting", "reconnecting", "warn"];
    else [state, text, level] = ["offline", "offline", "alarm"];
  } else {
    const out = activeOutages();
    if (!out.length) [state, text, level] = ["live", "live", "ok"];
    else if (out.some(([, o]) => o.stopped)) [state, text, level] = ["stopped", "stopped", "alarm"];
    else {
      const since = Math.min(...out.map(([, o]) => o.since));
      const down = serverNow() - since >= CONFIG.downAfter;
      [state, text, level] = down ? ["down", "PBX down", "alarm"] : ["stale", "stale", "warn"];
    }
  }
  const el = $("status");
  if (el.dataset.state !== state) el.dataset.state = state;
  if (el.dataset.level !== level) el.dataset.level = level;
  if (el.textContent !== text) el.textContent = text;
}

/**
 * Grey the parts whose sources are failing, with their age: everything when the PBX is
 * unreachable or the stream is lost.
 */
function renderStale() {
  const now = serverNow();
  let everything = S.conn !== "live" && S.everLive ? S.connLost + S.offset : null;
  for (const [source, o] of activeOutages()) {
    if (pbxDown(source, o) && (everything === null || o.since < everything)) everything = o.since;
  }
  for (const [id, sources] of Object.entries(PARTS)) {
    let since = everything;
    for (const source of sources) {
      const o = S.outages.get(source);
      if (o && (since === null || o.since < since)) since = o.since;
    }
    const section = $(id);
    section.classList.toggle("stale", since !== null);
    const text = since === null ? "" : "updated " + ago(now - since) + " ago";
    for (const el of section.querySelectorAll(".age")) {
      if (el.textContent !== text) el.textContent = text;
    }
  }
}

function setConn(conn) {
  if (conn === S.conn) return;
  if (conn === "live") S.everLive = true;
  else if (S.conn === "live") S.connLost = S.lastMessage;
  S.conn = conn;
  renderOutage();
}

// --- chart ----------------------------------------------------------------------------------
/** Fit the chart's coordinates to its box, so that its text is never stretched. */
function sizeChart() {
  const svg = $("chart");
  const w = Math.max(120, Math.round(svg.clientWidth));
  const h = Math.max(60, Math.round(svg.clientHeight));
  if (w === CHART.width && h === CHART.height) return false;
  const fs = parseFloat(getComputedStyle($("y-max")).fontSize) || 11;
  Object.assign(CHART, { width: w, height: h, left: Math.round(fs * 2.4), right: w - 2,
    top: Math.round(fs * 0.8), bottom: Math.round(h - fs * 1.5) });
  svg.setAttribute("viewBox", "0 0 " + w + " " + h);
  const mid = (CHART.top + CHART.bottom) / 2;
  [["g-top", CHART.top, "y-max"], ["g-mid", mid, "y-mid"], ["g-bottom", CHART.bottom, "y-zero"]]
    .forEach(([line, y, label]) => {
      const el = $(line);
      el.setAttribute("x1", CHART.left); el.setAttribute("x2", CHART.right);
      el.setAttribute("y1", y); el.setAttribute("y2", y);
      $(label).setAttribute("y", y + fs * 0.35);
    });
  $("x-start").setAttribute("x", CHART.left);
  $("x-now").setAttribute("x", CHART.right);
  for (const id of ["x-start", "x-now"]) $(id).setAttribute("y", h - fs * 0.2);
  return true;
}

function drawChart() {
  sizeChart();
  const last = S.samples.length ? S.samples[S.samples.length - 1] : null;
  $("now-waiting").textContent = last ? last[1] : 0;
  $("now-ready").textContent = last ? last[2] : 0;
  const samples = last ? S.samples.filter((s) => s[0] >= last[0] - CONFIG.history) : [];
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
  $("x-start").textContent = "\u2212" + fmt(t1 - t0);
  $("span").textContent = "last " + fmt(t1 - t0);
}

// --- messages -------------------------------------------------------------------------------
function agentMessage(m) {
  const a = { ...m, since: millis(m.since) };
  S.agents.set(a.user, a);
  S.pending.add(a.user);
}

function applySnapshot(snap) {
  S.offset = millis(snap.now) - Date.now();
  const seen = new Set();
  for (const a of snap.agents) { seen.add(a.user); agentMessage(a); }
  for (const user of [...S.agents.keys()]) if (!seen.has(user)) removeAgent(user);
  S.queues = new Map(snap.queues.map((q) => [String(q.id), q]));
  for (const source of [...S.outages.keys()]) {
    if (!(source in snap.outages)) S.outages.delete(source);
  }
  for (const source of Object.keys(snap.outages)) {
    sourceFailed(source, serverNow(), false, false, "");
  }
  if (snap.samples) S.samples = snap.samples.map((s) => [millis(s[0]), s[1], s[2]]);
  if (Array.isArray(snap.today)) S.today = new Map(snap.today.map((d) => [String(d.queue), d]));
  renderQueues(); renderOutage(); drawChart(); schedule();
}

function handle(m) {
  S.lastMessage = Date.now();
  switch (m.kind ?? m.type) {
    case "hello": {
      S.offset = millis(m.now) - Date.now();
      S.heartbeat = m.heartbeat || S.heartbeat;
      if (m.title) { document.title = m.title; $("title").textContent = m.title; }
      const users = new Set(m.users);
      for (const user of [...S.agents.keys()]) if (!users.has(user)) removeAgent(user);
      S.samples = (m.samples || []).map((s) => [millis(s[0]), s[1], s[2]]);
      S.outages = new Map();  // the replay that follows tells the outages still going on
      drawChart();
      setConn("live");
      renderOutage();
      break;
    }
    case "agent":
      agentMessage(m); schedule();
      break;
    case "queue": {
      const id = String(m.id);
      if (m.removed) S.queues.delete(id); else S.queues.set(id, { ...m, id });
      renderQueues();
      break;
    }
    case "queue_day":
      handleDay(m);
      break;
    case "sample":
      S.samples.push([millis(m.t), m.waiting, m.ready]);
      if (S.samples.length > m.keep) S.samples.splice(0, S.samples.length - m.keep);
      drawChart();
      break;
    case "source":  // the board's summary of a source: no start time, so "since we heard"
      if (m.ok) sourceRecovered(m.source);
      else sourceFailed(m.source, serverNow(), false, false, "");
      break;
    case "source_failed":
      sourceFailed(m.source, millis(m.time), true, m.retry_in === null, m.error_type || "");
      console.info("source failing:", m.source, m.error_type, m.error);
      break;
    case "source_recovered":
      sourceRecovered(m.source);
      break;
    case "dropped":
    case "events_dropped":
      fetch("snapshot").then((r) => r.json()).then(applySnapshot).catch(() => {});
      break;
    case "ping":
      S.offset = millis(m.now) - Date.now();
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
    setConn(S.everLive ? "reconnecting" : "connecting");
    if (es.readyState === EventSource.CLOSED) {
      setTimeout(() => { if (es === S.es) connect(); }, S.backoff);
      S.backoff = Math.min(S.backoff * 2, 15000);
    }
  };
}

// --- controls -------------------------------------------------------------------------------
function setupControls() {
  const sort = $("sort");
  sort.value = CONFIG.sort;
  sort.addEventListener("change", () => {
    CONFIG.sort = SORTS.includes(sort.value) ? sort.value : "state";
    setParam("sort", CONFIG.sort === "state" ? "" : CONFIG.sort);
    orderAgents();
  });
  const filter = $("queue-filter");
  filter.addEventListener("change", () => {
    CONFIG.queues = new Set(idList([filter.value]));
    setParam("queue", [...CONFIG.queues].join(","));
    renderQueues();
  });
  if (CONFIG.tv) {
    document.documentElement.classList.add("tv");
    document.body.classList.add("tv");
  }
  new ResizeObserver(countHidden).observe($("agents"));
  new ResizeObserver(() => { if (sizeChart()) drawChart(); }).observe($("chart"));
  renderFilter();
  tickClock();
  drawChart();
}

function tickClock() {
  $("clock").textContent = new Date().toLocaleTimeString([], {
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
}

setInterval(() => {
  const now = serverNow();
  for (const [user, el] of S.cards) {
    const a = S.agents.get(user);
    if (!a) continue;
    el.querySelector(".time").textContent = fmt(now - a.since);
    el.classList.toggle("alarm", pauseAlarm(a, now));
  }
  tickClock();
  if (Date.now() - S.lastMessage > 3 * S.heartbeat) {  // a stream that died silently
    setConn(S.everLive ? "reconnecting" : "connecting");
    connect();
  }
  renderBanner(); renderStatus(); renderStale();
}, 1000);

setupControls();
connect();
</script>
</body>
</html>
"""


def render_page(title: str) -> str:
    """The page, titled *title* (escaped)."""
    return _PAGE.replace("__TITLE__", html.escape(title))
