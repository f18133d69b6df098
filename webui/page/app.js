// DockerCoin Miner page: one EventSource to /events, no polling.
// The server computes everything shown: the speed (averaged over a window it
// states), the chart (from the dispatcher's history in Redis, so a restarted
// server still shows the past), stage rates, the bottleneck (with
// hysteresis, so every viewer reads the same verdict) and how fresh the
// data is. This script only draws, and greys the numbers out whenever they
// are not live: stream down, Redis unreachable, or no new data from the
// rig. EventSource reconnects by itself after network errors; a watchdog
// also reconnects when the stream goes quiet or the browser gives up (e.g.
// after a 503), so the page never freezes.
"use strict";

const HISTORY_MS = 5 * 60 * 1000;
const QUIET_MS = 5000; // no event for this long: reconnect
const STAGES = ["rng", "hasher", "broker", "worker", "dispatcher"];
const LABELS = { worker: "workers" };

const $ = (id) => document.getElementById(id);
let points = []; // [t_ms, hashes/s], the dispatcher's clock
let chart = null;
let source = null;
let lastEventAt = 0;
let lastTs = 0;

function fmtInt(n) {
  return n === null || n === undefined ? "—" : Math.round(n).toLocaleString("en-US");
}

function fmtSpeed(v) {
  if (v === null || v === undefined) return "—";
  return v >= 100 ? Math.round(v).toLocaleString("en-US") : v.toFixed(1);
}

// A latency in ms; `us` says the stage measures in microseconds (else a
// value under 1 ms is only known to be under 1 ms).
function fmtMs(v, us) {
  if (v === null || v === undefined) return "—";
  if (v >= 1000) return (v / 1000).toFixed(1) + " s";
  if (v >= 1) return Math.round(v) + " ms";
  return us ? Math.round(v * 1000) + " µs" : "< 1 ms";
}

function fmtPair(a, b, us) {
  return a === null && b === null ? "—" : fmtMs(a, us) + " / " + fmtMs(b, us);
}

function plural(n, one, many) {
  return fmtInt(n) + " " + (n === 1 ? one : many);
}

function fmtInstances(s) {
  if (!s.live) return "not reporting";
  // rng and hasher: instances (processes), each with slots (requests served at once)
  if (s.slots !== null && s.slots !== undefined)
    return plural(s.instances, "instance", "instances") + ", " + plural(s.slots, "slot", "slots");
  return fmtInt(s.instances);
}

// The badge and the page's state: live, or why the numbers are not.
function setState(state, text) {
  const el = $("conn");
  el.textContent = text;
  el.className = "conn conn-" + state;
  document.body.dataset.state = state;
  $("main").classList.toggle("stale", state !== "live");
}

function makeChart() {
  if (chart || typeof Chart === "undefined") return;
  chart = new Chart($("chart"), {
    type: "line",
    data: { datasets: [{ label: "hashes/s", data: [], borderColor: "#2f6fdb",
      backgroundColor: "rgba(47,111,219,0.15)", fill: true, pointRadius: 0,
      borderWidth: 2, tension: 0.2 }] },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false, parsing: false,
      plugins: { legend: { display: false }, tooltip: { intersect: false } },
      scales: {
        x: { type: "linear", min: -300, max: 0,
             ticks: { stepSize: 60, callback: (v) => (v === 0 ? "now" : v / 60 + " min") } },
        y: { beginAtZero: true, title: { display: true, text: "hashes/s" } },
      },
    },
  });
}

function drawChart() {
  makeChart();
  const now = lastTs || Date.now();
  points = points.filter((p) => now - p[0] <= HISTORY_MS);
  $("chart").dataset.points = String(points.length);
  $("chart").dataset.firstAgeS = points.length ? String(Math.round((now - points[0][0]) / 1000)) : "";
  if (!chart) return;
  chart.data.datasets[0].data = points.map((p) => ({ x: (p[0] - now) / 1000, y: p[1] }));
  chart.update("none");
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
}

function drawStages(snap) {
  const body = $("stages");
  const rows = [];
  for (const name of STAGES) {
    const s = (snap.stages || []).find((x) => x.name === name) || { name };
    const row = document.createElement("tr");
    row.dataset.stage = name;
    if (snap.bottleneck && snap.bottleneck.stage === name) row.className = "limit";
    else if (!s.live) row.className = "absent";
    cell(row, LABELS[name] || name);
    cell(row, fmtInstances(s));
    const busy = s.busy_pct === null || s.busy_pct === undefined ? "—" : Math.round(s.busy_pct) + "%";
    cell(row, name === "broker" && busy !== "—" ? busy + " CPU" : busy);
    cell(row, fmtInt(s.queue));
    cell(row, fmtPair(s.wait_p50_ms ?? null, s.wait_p99_ms ?? null, s.lat_us));
    cell(row, fmtPair(s.lat_p50_ms ?? null, s.lat_p99_ms ?? null, s.lat_us));
    cell(row, s.rate === null || s.rate === undefined ? "—" : fmtSpeed(s.rate));
    cell(row, s.note || "");
    rows.push(row);
  }
  body.replaceChildren(...rows);
}

function addPoints(recent) {
  for (const p of recent || []) {
    const last = points.length ? points[points.length - 1][0] : 0;
    if (p[0] > last) points.push(p);
  }
}

function onSnapshot(snap, id) {
  lastTs = snap.ts_ms;
  const redisOk = snap.redis && snap.redis.ok;
  const data = snap.data || {};
  $("banner").hidden = !!redisOk;
  $("banner-text").textContent = redisOk ? "" : "(" + (snap.redis.error || "no reply") + ")";
  $("speed").textContent = fmtSpeed(snap.speed.hashes_per_s);
  const span = snap.speed.span_s;
  let hint = span !== null && span < snap.speed.window_s - 0.5
    ? "averaged over the last " + Math.round(span) + " s (window fills to " +
      snap.speed.window_s + " s)"
    : "averaged over the last " + snap.speed.window_s + " s";
  if (!redisOk) setState("redis", "Redis unreachable");
  else if (data.age_s === null || data.age_s === undefined) setState("nodata", "no data yet");
  else if (!data.fresh) {
    setState("nodata", "no data for " + Math.round(data.age_s) + " s");
    hint = "stopped: no data for " + Math.round(data.age_s) + " s (last speed shown)";
  } else setState("live", "live");
  $("speed-hint").textContent = hint;
  $("hashes").textContent = fmtInt(snap.hashes);
  $("coins").textContent = fmtInt(snap.coins);
  $("verdict").textContent = snap.bottleneck.text;
  $("verdict-box").className = "panel" + (snap.bottleneck.stage ? " limit" : "");
  $("verdict-box").dataset.stage = snap.bottleneck.stage || "";
  const books = snap.books || {};
  $("books-lost").hidden = !books.text;
  $("books-lost").textContent = !books.text ? "" : books.text +
    (books.t_ms ? " Last at " + new Date(books.t_ms).toLocaleTimeString() + "." : "");
  const tracks = snap.tracks || {};
  $("tracks").hidden = !tracks.text;
  $("tracks").textContent = tracks.text ? "hashes by track: " + tracks.text : "";
  drawStages(snap);
  if (redisOk) addPoints(snap.speed.recent);
  drawChart();
  $("updated").textContent = new Date(snap.ts_ms).toLocaleTimeString();
  document.body.dataset.lastId = id || "";
}

function connect() {
  if (source) source.close();
  setState("offline", "connecting…");
  source = new EventSource("events");
  lastEventAt = Date.now();
  source.addEventListener("history", (e) => {
    lastEventAt = Date.now();
    points = JSON.parse(e.data).points || [];
    drawChart();
  });
  source.addEventListener("message", (e) => {
    lastEventAt = Date.now();
    onSnapshot(JSON.parse(e.data), e.lastEventId);
  });
  source.addEventListener("error", () => {
    setState("offline", "reconnecting…");
  });
}

function watchdog() {
  const quiet = Date.now() - lastEventAt;
  if (source && source.readyState === EventSource.CLOSED) connect();
  else if (quiet > QUIET_MS) {
    setState("offline", "no updates for " + Math.round(quiet / 1000) + " s, reconnecting…");
    connect();
  }
}

connect();
setInterval(watchdog, 1000);
