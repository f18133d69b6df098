// DockerCoin Miner page: one EventSource to /events, no polling.
// The server computes the speed (averaged over a window it states) and the
// bottleneck; this script only draws. EventSource reconnects by itself after
// network errors; a watchdog also reconnects when the stream goes quiet or
// the browser gives up (e.g. after a 503), so the page never freezes.
"use strict";

const HISTORY_MS = 5 * 60 * 1000;
const QUIET_MS = 5000; // no event for this long: reconnect
const STAGES = ["rng", "hasher", "broker", "worker", "dispatcher"];
const LABELS = { worker: "workers" };

const $ = (id) => document.getElementById(id);
let points = []; // [t_ms, hashes/s], server clock
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

function fmtMs(v) {
  if (v === null || v === undefined) return "—";
  return v >= 1000 ? (v / 1000).toFixed(1) + " s" : Math.round(v) + " ms";
}

function fmtPair(a, b) {
  return a === null && b === null ? "—" : fmtMs(a) + " / " + fmtMs(b);
}

function setConn(text, live) {
  const el = $("conn");
  el.textContent = text;
  el.className = "conn " + (live ? "conn-live" : "conn-wait");
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
    cell(row, s.live ? fmtInt(s.instances) : "not reporting");
    cell(row, s.busy_pct === null || s.busy_pct === undefined ? "—" : Math.round(s.busy_pct) + "%");
    cell(row, fmtInt(s.queue));
    cell(row, fmtPair(s.wait_p50_ms ?? null, s.wait_p99_ms ?? null));
    cell(row, fmtPair(s.lat_p50_ms ?? null, s.lat_p99_ms ?? null));
    cell(row, s.rate === null || s.rate === undefined ? "—" : fmtSpeed(s.rate));
    cell(row, s.note || "");
    rows.push(row);
  }
  body.replaceChildren(...rows);
}

function onSnapshot(snap, id) {
  lastTs = snap.ts_ms;
  const redisOk = snap.redis && snap.redis.ok;
  $("banner").hidden = !!redisOk;
  $("banner-text").textContent = redisOk ? "" : "(" + (snap.redis.error || "no reply") + ")";
  $("speed").textContent = fmtSpeed(snap.speed.hashes_per_s);
  const span = snap.speed.span_s;
  $("speed-hint").textContent =
    span !== null && span < snap.speed.window_s - 0.5
      ? "averaged over the last " + Math.round(span) + " s (window fills to " +
        snap.speed.window_s + " s)"
      : "averaged over the last " + snap.speed.window_s + " s";
  $("hashes").textContent = fmtInt(snap.hashes);
  $("coins").textContent = fmtInt(snap.coins);
  $("verdict").textContent = snap.bottleneck.text;
  $("verdict-box").className = "panel" + (snap.bottleneck.stage ? " limit" : "");
  $("verdict-box").dataset.stage = snap.bottleneck.stage || "";
  drawStages(snap);
  if (redisOk && snap.speed.hashes_per_s !== null) {
    const last = points.length ? points[points.length - 1][0] : 0;
    if (snap.ts_ms > last) points.push([snap.ts_ms, snap.speed.hashes_per_s]);
  }
  drawChart();
  $("updated").textContent = new Date(snap.ts_ms).toLocaleTimeString();
  document.body.dataset.lastId = id || "";
}

function connect() {
  if (source) source.close();
  setConn("connecting…", false);
  source = new EventSource("events");
  lastEventAt = Date.now();
  source.addEventListener("open", () => setConn("live", true));
  source.addEventListener("history", (e) => {
    lastEventAt = Date.now();
    points = JSON.parse(e.data).points || [];
    drawChart();
  });
  source.addEventListener("message", (e) => {
    lastEventAt = Date.now();
    setConn("live", true);
    onSnapshot(JSON.parse(e.data), e.lastEventId);
  });
  source.addEventListener("error", () => {
    setConn("reconnecting…", false);
  });
}

function watchdog() {
  const quiet = Date.now() - lastEventAt;
  if (source && source.readyState === EventSource.CLOSED) connect();
  else if (quiet > QUIET_MS) {
    setConn("no updates for " + Math.round(quiet / 1000) + " s, reconnecting…", false);
    connect();
  }
}

connect();
setInterval(watchdog, 1000);
