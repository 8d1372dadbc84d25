// tickforge live dashboard, served at /dashboard/app.js (no build step, no
// libraries, no network beyond this server).
//
// It subscribes to /dashboard/stream, a server-sent event stream: first a
// `history` event with the kept samples (oldest first, at most 300), then a
// `sample` event once a second (the format is `Sample` in
// server/src/observer.rs). It keeps the last five minutes of samples and, on
// every sample, redraws the stat tiles, the hand-written SVG line charts, the
// disconnect table and the per-shard table. EventSource reconnects by itself;
// the header shows whether the stream is live.
//
// Hooks for tests: every chart has `data-chart="<name>"` and `data-points`
// (samples plotted, updated on every render); key numbers have
// `data-stat="<name>"` with the raw number in `data-value`; and
// `window.tickforgeDashboard.samples` is the array of received samples.
"use strict";

const WINDOW_MS = 5 * 60 * 1000;
const MAX_SAMPLES = 300;
const STALE_AFTER_MS = 3500;
const GAP_MS = 3500; // a longer gap between samples breaks the line
const SHARD_COLORS = ["#4f9dff", "#f5a524", "#3ccf91", "#e5534b", "#b083f0", "#36c5d8", "#e879b9", "#a3be4c"];
const IN_COLOR = "#36c5d8";
const OUT_COLOR = "#b083f0";
const TOTAL_COLOR = "#e6e9ef";
const WARN_COLOR = "#f5a524";
const BAD_COLOR = "#e5534b";
const STYLE = { // line styles of one shard's quantiles
  p50: { width: 1.4, dash: "5 4", opacity: 0.9 },
  p99: { width: 2, dash: "", opacity: 1 },
  max: { width: 1, dash: "1 3", opacity: 0.8 },
};

const samples = [];
window.tickforgeDashboard = { samples };

let status = "connecting";
let lastReceived = 0;
let renderPending = false;

// ---------------------------------------------------------------- helpers

const $ = (selector) => document.querySelector(selector);
const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const shardColor = (id) => SHARD_COLORS[id % SHARD_COLORS.length];
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
const pad = (n) => String(n).padStart(2, "0");

function clock(ms, withSeconds = true) {
  const d = new Date(ms);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return withSeconds ? `${hm}:${pad(d.getSeconds())}` : hm;
}

// Units per kind of value, largest first: [divisor, unit].
const UNITS = {
  duration: [[1e6, " s"], [1e3, " ms"], [1, " µs"]],
  bytes: [[1e9, " GB/s"], [1e6, " MB/s"], [1e3, " kB/s"], [1, " B/s"]],
  rate: [[1e6, "M/s"], [1e3, "k/s"], [1, "/s"]],
  count: [[1e6, "M"], [1e3, "k"], [1, ""]],
};

function unitFor(kind, v) {
  const units = UNITS[kind];
  return units.find(([div]) => Math.abs(v) >= div) || units[units.length - 1];
}

// One value with its own unit, as [number, unit] (about three significant digits).
function split(kind, v) {
  if (v == null || !Number.isFinite(v)) return ["–", ""];
  const [div, unit] = unitFor(kind, v);
  const x = v / div;
  const abs = Math.abs(x);
  const digits = (kind === "count" && div === 1) || abs >= 100 || x === 0 ? 0 : abs >= 10 ? 1 : 2;
  return [String(Number(x.toFixed(digits))), unit];
}

const fmt = (kind, v) => split(kind, v).join("");

function niceStep(max, ticks) {
  const raw = max / ticks;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10) * p;
}

function lineSwatch(color, style = STYLE.p99) {
  return `<svg width="22" height="8"><line x1="1" y1="4" x2="21" y2="4" stroke="${color}" stroke-width="${style.width + 0.4}"` +
    ` stroke-dasharray="${style.dash}" stroke-linecap="round" opacity="${style.opacity}"/></svg>`;
}

// The page's Content-Security-Policy refuses inline style attributes, so
// markup built as text carries its few computed styles in data-bg, data-fill
// and data-width, applied here through the CSSOM (which the policy allows).
function applyStyles(root) {
  for (const el of root.querySelectorAll("[data-bg], [data-fill], [data-width]")) {
    if (el.dataset.bg) el.style.background = el.dataset.bg;
    if (el.dataset.fill) el.style.fill = el.dataset.fill;
    if (el.dataset.width) el.style.width = el.dataset.width;
  }
}

// --------------------------------------------------------------- line chart

// Draws `spec` into `svg` (whose parent .chart gives the size):
//   times: sample times (ms); series: [{ name, color, width, dash, opacity, fill, values }]
//   (a null value is a gap); kind: unit kind of the y axis; log: log-scale y;
//   refs: [{ value, label, color }] horizontal reference lines; integer: whole-number ticks.
function renderChart(svg, spec) {
  const box = svg.parentElement;
  const W = Math.max(200, box.clientWidth);
  const H = Math.max(120, box.clientHeight);
  const m = { l: 60, r: 12, t: 12, b: 24 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const { times, series } = spec;
  const n = times.length;
  let points = 0;
  for (let i = 0; i < n; i++) if (series.some((s) => s.values[i] != null)) points++;
  svg.dataset.points = String(points);
  svg.dataset.lastT = n ? String(times[n - 1]) : "";
  svg.setAttribute("width", W);
  svg.setAttribute("height", H);
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  box.model = null;
  if (!n || !series.length) {
    const text = !n ? "Waiting for samples…" : "No shards";
    svg.innerHTML = `<text class="empty" x="${W / 2}" y="${H / 2}">${text}</text>`;
    return;
  }

  const t1 = times[n - 1];
  const t0 = Math.min(times[0], t1 - 1000);
  const x = (t) => m.l + ((t - t0) / (t1 - t0)) * pw;
  const values = series.flatMap((s) => s.values.filter((v) => v != null));
  const refs = spec.refs || [];
  const all = values.concat(refs.map((r) => r.value));
  let y;
  const yTicks = [];
  const yLabel = (v) => fmt(spec.kind, v);
  if (spec.log) {
    const lo = all.length ? Math.max(1, Math.min(...all)) : 1;
    const hi = all.length ? Math.max(...all) : 1000;
    const a = Math.floor(Math.log10(lo));
    const b = Math.max(a + 1, Math.ceil(Math.log10(hi)));
    y = (v) => m.t + ph - ((Math.log10(Math.max(v, 10 ** a)) - a) / (b - a)) * ph;
    const mantissas = (b - a) * 3 <= ph / 22 ? [1, 2, 5] : [1];
    for (let e = a; e <= b; e++) for (const k of mantissas) if (k * 10 ** e <= 10 ** b) yTicks.push(k * 10 ** e);
  } else {
    const hi = Math.max(0, ...all) || 1;
    let step = niceStep(hi, Math.max(2, Math.floor(ph / 38)));
    if (spec.integer) step = Math.max(1, step);
    const top = Math.max(step, Math.ceil(hi / step - 1e-9) * step);
    y = (v) => m.t + ph - (v / top) * ph;
    for (let v = 0; v <= top + step / 2; v += step) yTicks.push(v);
  }

  let out = "";
  for (const v of yTicks) {
    const py = y(v).toFixed(1);
    out += `<line class="grid" x1="${m.l}" x2="${W - m.r}" y1="${py}" y2="${py}"/>`;
    out += `<text x="${m.l - 8}" y="${py}" dy="0.35em" text-anchor="end">${esc(yLabel(v))}</text>`;
  }
  const xSteps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600].map((s) => s * 1000);
  const wanted = Math.max(2, Math.floor(pw / 85));
  const xStep = xSteps.find((s) => (t1 - t0) / s <= wanted) || xSteps[xSteps.length - 1];
  for (let t = Math.ceil(t0 / xStep) * xStep; t <= t1; t += xStep) {
    const px = x(t).toFixed(1);
    out += `<line class="axis" x1="${px}" x2="${px}" y1="${m.t + ph}" y2="${m.t + ph + 4}"/>`;
    out += `<text x="${px}" y="${H - 6}" text-anchor="middle">${clock(t, xStep < 60000)}</text>`;
  }
  out += `<line class="axis" x1="${m.l}" x2="${W - m.r}" y1="${m.t + ph}" y2="${m.t + ph}"/>`;

  const base = (m.t + ph).toFixed(1);
  for (const s of series) {
    let d = "";
    let dots = "";
    let open = false;
    let first = null;
    let last = null;
    for (let i = 0; i < n; i++) {
      const v = s.values[i];
      if (v == null || (i > 0 && times[i] - times[i - 1] > GAP_MS)) open = false;
      if (v == null) continue;
      const px = x(times[i]).toFixed(1);
      const py = y(v).toFixed(1);
      const alone = !open && (i + 1 >= n || s.values[i + 1] == null);
      d += `${open ? "L" : "M"}${px} ${py}`;
      if (alone) dots += `<circle cx="${px}" cy="${py}" r="2" fill="${s.color}"/>`;
      open = true;
      first = first ?? px;
      last = px;
    }
    if (s.fill && d && !s.values.includes(null)) {
      out += `<path d="${d}L${last} ${base}L${first} ${base}Z" fill="${s.color}" opacity="0.12"/>`;
    }
    out += `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="${s.width || 1.6}" stroke-dasharray="${s.dash || ""}"` +
      ` opacity="${s.opacity ?? 1}" stroke-linejoin="round" stroke-linecap="round"/>${dots}`;
  }
  for (const r of refs) {
    const py = y(r.value).toFixed(1);
    out += `<line x1="${m.l}" x2="${W - m.r}" y1="${py}" y2="${py}" stroke="${r.color}" stroke-width="1.2" stroke-dasharray="6 4"/>`;
    out += `<text class="ref-label" x="${m.l + 6}" y="${py}" dy="-5" data-fill="${r.color}">${esc(r.label)}</text>`;
  }
  if (!points) out += `<text class="empty" x="${m.l + pw / 2}" y="${m.t + ph / 2}">${esc(spec.noData || "No data yet")}</text>`;
  svg.innerHTML = out;
  applyStyles(svg);
  box.model = { spec, x, t0, t1, m, pw };
}

// Crosshair and tooltip: one pair per chart, reading the model of the last render.
function attachHover(box) {
  const cross = document.createElement("div");
  cross.className = "cross";
  const tip = document.createElement("div");
  tip.className = "tip";
  box.append(cross, tip);
  box.addEventListener("mouseleave", () => { cross.style.display = tip.style.display = "none"; });
  box.addEventListener("mousemove", (event) => {
    const model = box.model;
    if (!model) return;
    const rect = box.getBoundingClientRect();
    const px = event.clientX - rect.left;
    const { times, series, kind } = model.spec;
    const t = model.t0 + ((px - model.m.l) / model.pw) * (model.t1 - model.t0);
    let i = 0;
    for (let j = 1; j < times.length; j++) if (Math.abs(times[j] - t) < Math.abs(times[i] - t)) i = j;
    const rows = series.filter((s) => s.values[i] != null)
      .map((s) => `<div><i data-bg="${s.color}"></i>${esc(s.name)}<b>${esc(fmt(kind, s.values[i]))}</b></div>`);
    const cx = model.x(times[i]);
    cross.style.left = `${cx}px`;
    cross.style.display = "block";
    tip.innerHTML = `<div class="time">${clock(times[i])}</div>${rows.join("") || "<div>no data</div>"}`;
    applyStyles(tip);
    tip.style.display = "block";
    const left = cx + 12 + tip.offsetWidth > rect.width ? cx - 12 - tip.offsetWidth : cx + 12;
    tip.style.left = `${Math.max(0, left)}px`;
  });
}

function setLegend(name, items) {
  const el = document.querySelector(`[data-legend="${name}"]`);
  if (!el) return;
  el.innerHTML = items.map((it) => (it.sep ? '<span class="sep"></span>' : `<span>${lineSwatch(it.color, it.style)}${esc(it.label)}</span>`)).join("");
}

// ------------------------------------------------------------------ numbers

function setStat(name, value, kind, sub) {
  const el = document.querySelector(`[data-stat="${name}"]`);
  if (!el) return;
  const [number, unit] = kind ? split(kind, value) : [value == null ? "–" : String(value), ""];
  const unitEl = el.nextElementSibling?.classList.contains("unit") ? el.nextElementSibling : null;
  el.textContent = unitEl ? number : number + unit;
  if (unitEl) unitEl.textContent = unit.trim();
  el.dataset.value = value == null ? "" : String(value);
  const subEl = document.querySelector(`[data-sub="${name}"]`);
  if (subEl && sub !== undefined) subEl.textContent = sub;
}

function setTileLevel(name, level) {
  const tile = document.querySelector(`[data-stat="${name}"]`)?.closest(".tile");
  if (!tile) return;
  tile.classList.toggle("warn", level === "warn");
  tile.classList.toggle("bad", level === "bad");
}

function setStatus(next) {
  status = next;
  $(".status").dataset.status = next;
  $('[data-stat="connection"]').textContent = next;
}

function showFreshness() {
  const ago = lastReceived ? Math.round((Date.now() - lastReceived) / 1000) : null;
  $('[data-stat="updated-ago"]').textContent = ago == null ? "" : `(${ago} s ago)`;
  if (status === "live" && ago != null && Date.now() - lastReceived > STALE_AFTER_MS) setStatus("stale");
}

// ------------------------------------------------------------------- render

function render() {
  renderPending = false;
  const n = samples.length;
  const last = n ? samples[n - 1] : null;
  const times = samples.map((s) => s.t_ms);
  const byShard = samples.map((s) => new Map((s.shards || []).map((x) => [x.shard, x])));
  const shardIds = [...new Set(samples.flatMap((s) => (s.shards || []).map((x) => x.shard)))].sort((a, b) => a - b);
  const perShard = (id, f) => byShard.map((shards) => (shards.has(id) ? f(shards.get(id)) : null));
  const total = (f) => samples.map((s) => sum((s.shards || []).map(f)));
  const lastShards = last ? last.shards || [] : [];
  const lastTotal = (f) => sum(lastShards.map(f));
  const budget = last ? last.tick_budget_us : null;
  const multiShard = shardIds.length > 1;

  // Header.
  setStat("node", last ? last.node : null);
  setStat("shards", last ? lastShards.length : null);
  setStat("tick-budget", budget, "duration");
  setStat("updated", last ? clock(last.t_ms) : "never");
  showFreshness();

  // Tiles.
  const rooms = lastTotal((x) => x.rooms);
  const players = lastTotal((x) => x.players);
  const byShardText = (f, kind) => (multiShard ? lastShards.map((x) => `s${x.shard} ${fmt(kind, f(x))}`).join(" · ") : "");
  const windowSum = (f) => sum(total(f));
  setStat("ccu", last ? lastTotal((x) => x.connections) : null, "count", byShardText((x) => x.connections, "count"));
  setStat("rooms", last ? rooms : null, "count", byShardText((x) => x.rooms, "count"));
  setStat("players", last ? players : null, "count", last && rooms ? `${fmt("count", players / rooms)} per room` : "");
  setStat("messages-in", last ? lastTotal((x) => x.messages_in_per_s) : null, "rate", "frames received");
  setStat("messages-out", last ? lastTotal((x) => x.messages_out_per_s) : null, "rate", "frames sent");
  setStat("bytes-in", last ? lastTotal((x) => x.bytes_in_per_s) : null, "bytes", "received");
  setStat("bytes-out", last ? lastTotal((x) => x.bytes_out_per_s) : null, "bytes", "sent");
  const ticking = lastShards.filter((x) => x.tick.count > 0);
  const worstP99 = ticking.length ? Math.max(...ticking.map((x) => x.tick.p99_us)) : null;
  setStat("tick-p99", worstP99, "duration", budget ? `budget ${fmt("duration", budget)}` : "");
  setTileLevel("tick-p99", worstP99 != null && budget && worstP99 > budget ? "bad" : "");
  const overBudget = windowSum((x) => x.over_budget);
  const overruns = windowSum((x) => x.overruns);
  setStat("over-budget", last ? overBudget : null, "count", last ? `last 5 min · now ${fmt("rate", lastTotal((x) => x.over_budget))}` : "");
  setStat("overruns", last ? overruns : null, "count", last ? `last 5 min · now ${fmt("rate", lastTotal((x) => x.overruns))}` : "");
  setTileLevel("over-budget", overBudget > 0 ? "warn" : "");
  setTileLevel("overruns", overruns > 0 ? "bad" : "");

  // Tick duration: three quantiles per shard against the budget.
  const tickSeries = [];
  const latenessSeries = [];
  for (const id of shardIds) {
    const color = shardColor(id);
    for (const q of ["p50", "p99", "max"]) {
      const key = `${q}_us`;
      tickSeries.push({ name: `shard ${id} ${q}`, color, ...STYLE[q], values: perShard(id, (x) => (x.tick.count ? x.tick[key] : null)) });
      if (q !== "p50") {
        latenessSeries.push({ name: `shard ${id} ${q}`, color, ...STYLE[q], values: perShard(id, (x) => (x.lateness.count ? x.lateness[key] : null)) });
      }
    }
  }
  const shardLegend = shardIds.map((id) => ({ label: `shard ${id}`, color: shardColor(id) }));
  const quantileLegend = (qs) => qs.map((q) => ({ label: q, color: "#8a94a6", style: STYLE[q] }));
  setLegend("tick-duration", [...shardLegend, { sep: true }, ...quantileLegend(["p50", "p99", "max"]),
    { label: "budget", color: BAD_COLOR, style: { width: 1, dash: "4 3", opacity: 1 } }]);
  setLegend("tick-lateness", [...shardLegend, { sep: true }, ...quantileLegend(["p99", "max"])]);
  renderChart($('[data-chart="tick-duration"]'), {
    times, series: tickSeries, kind: "duration", log: true, noData: "No room is ticking",
    refs: budget ? [{ value: budget, label: `budget ${fmt("duration", budget)}`, color: BAD_COLOR }] : [],
  });
  renderChart($('[data-chart="tick-lateness"]'), { times, series: latenessSeries, kind: "duration", log: true, noData: "No room is ticking" });

  // Connections: the total and each shard.
  const connSeries = shardIds.map((id) => ({ name: `shard ${id}`, color: shardColor(id), values: perShard(id, (x) => x.connections) }));
  if (multiShard) connSeries.unshift({ name: "total", color: TOTAL_COLOR, width: 2, fill: true, values: total((x) => x.connections) });
  setLegend("connections", [...(multiShard ? [{ label: "total", color: TOTAL_COLOR }] : []), ...shardLegend]);
  renderChart($('[data-chart="connections"]'), { times, series: shardIds.length ? connSeries : [], kind: "count", integer: true });

  const haveShards = shardIds.length > 0;
  const pair = (a, b) => (haveShards ? [a, b] : []);
  setLegend("rooms-players", [{ label: "players", color: IN_COLOR }, { label: "rooms", color: WARN_COLOR }]);
  renderChart($('[data-chart="rooms-players"]'), {
    times, kind: "count", integer: true,
    series: pair({ name: "players", color: IN_COLOR, fill: true, values: total((x) => x.players) },
      { name: "rooms", color: WARN_COLOR, values: total((x) => x.rooms) }),
  });
  setLegend("messages", [{ label: "in", color: IN_COLOR }, { label: "out", color: OUT_COLOR }]);
  renderChart($('[data-chart="messages"]'), {
    times, kind: "rate",
    series: pair({ name: "in", color: IN_COLOR, values: total((x) => x.messages_in_per_s) },
      { name: "out", color: OUT_COLOR, values: total((x) => x.messages_out_per_s) }),
  });
  setLegend("bytes", [{ label: "in", color: IN_COLOR }, { label: "out", color: OUT_COLOR }]);
  renderChart($('[data-chart="bytes"]'), {
    times, kind: "bytes",
    series: pair({ name: "in", color: IN_COLOR, values: total((x) => x.bytes_in_per_s) },
      { name: "out", color: OUT_COLOR, values: total((x) => x.bytes_out_per_s) }),
  });
  setLegend("over-budget", [{ label: "over budget", color: WARN_COLOR }, { label: "overruns", color: BAD_COLOR }]);
  renderChart($('[data-chart="over-budget"]'), {
    times, kind: "rate", integer: true,
    series: pair({ name: "over budget", color: WARN_COLOR, fill: true, values: total((x) => x.over_budget) },
      { name: "overruns", color: BAD_COLOR, fill: true, values: total((x) => x.overruns) }),
  });

  renderDisconnects(last);
  renderShardTable(lastShards, byShard, shardIds);
}

// Disconnects since start by cause, with the rate over (up to) the last minute.
function renderDisconnects(last) {
  const el = $('[data-chart="disconnects"]');
  if (!last) {
    el.dataset.points = "0";
    el.innerHTML = '<div class="empty-note">Waiting for samples…</div>';
    setStat("disconnects", null);
    return;
  }
  const then = samples.find((s) => s.t_ms >= last.t_ms - 60000) || last;
  const minutes = (last.t_ms - then.t_ms) / 60000;
  const causes = Object.entries(last.disconnects || {});
  const seen = causes.filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]);
  const most = seen.length ? seen[0][1] : 1;
  el.dataset.points = String(seen.length);
  const rows = seen.map(([cause, count]) => {
    const before = (then.disconnects || {})[cause] || 0;
    const rate = minutes > 0 ? (count - before) / minutes : null;
    return `<tr><td>${esc(cause.replace(/_/g, " "))}</td>` +
      `<td><span class="bar" data-width="${Math.max(2, (count / most) * 72).toFixed(0)}px"></span></td>` +
      `<td>${fmt("count", count)}</td><td class="${rate ? "over" : "muted"}">${rate == null ? "–" : `${fmt("count", rate)}/min`}</td></tr>`;
  });
  const quiet = causes.filter(([, v]) => !v).map(([cause]) => `<span>${esc(cause.replace(/_/g, " "))}</span>`);
  el.innerHTML = (seen.length
    ? `<div class="table-wrap"><table><thead><tr><th>Cause</th><th></th><th>Total</th><th>Rate</th></tr></thead>` +
      `<tbody>${rows.join("")}</tbody></table></div>`
    : '<div class="empty-note">No disconnects since the server started</div>') +
    (quiet.length ? `<div class="quiet">${seen.length ? "No disconnects" : "Causes tracked"}:<div class="causes">${quiet.join("")}</div></div>` : "");
  applyStyles(el);
  setStat("disconnects", sum(causes.map(([, v]) => v)));
}

function renderShardTable(lastShards, byShard, shardIds) {
  const table = $('[data-table="shards"]');
  table.dataset.rows = String(lastShards.length);
  const windowed = (id, f) => sum(byShard.map((shards) => (shards.has(id) ? f(shards.get(id)) : 0)));
  const dur = (w, key) => (w.count ? fmt("duration", w[key]) : "–");
  const body = lastShards.map((x) => {
    const over = windowed(x.shard, (s) => s.over_budget);
    const overruns = windowed(x.shard, (s) => s.overruns);
    return `<tr><td><span class="swatch" data-bg="${shardColor(x.shard)}"></span>shard ${x.shard}</td>` +
      `<td>${fmt("count", x.connections)}</td><td>${fmt("count", x.rooms)}</td><td>${fmt("count", x.players)}</td>` +
      `<td>${fmt("rate", x.messages_in_per_s)}</td><td>${fmt("rate", x.messages_out_per_s)}</td>` +
      `<td>${fmt("bytes", x.bytes_in_per_s)}</td><td>${fmt("bytes", x.bytes_out_per_s)}</td>` +
      `<td>${dur(x.tick, "p50_us")}</td><td>${dur(x.tick, "p99_us")}</td><td>${dur(x.tick, "max_us")}</td>` +
      `<td>${dur(x.lateness, "p99_us")}</td>` +
      `<td class="${over ? "over" : "muted"}">${over}</td><td class="${overruns ? "over" : "muted"}">${overruns}</td></tr>`;
  });
  const empty = samples.length ? "No shards" : "Waiting for samples…";
  const tbody = table.querySelector("tbody");
  tbody.innerHTML = body.join("") ||
    `<tr><td colspan="14" class="empty-note">${shardIds.length ? "No shards in the latest sample" : empty}</td></tr>`;
  applyStyles(tbody);
}

function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  requestAnimationFrame(render);
}

// ------------------------------------------------------------------- stream

function keepWindow() {
  const newest = samples.length ? samples[samples.length - 1].t_ms : 0;
  let drop = Math.max(0, samples.length - MAX_SAMPLES);
  while (drop < samples.length && samples[drop].t_ms < newest - WINDOW_MS) drop++;
  if (drop) samples.splice(0, drop);
}

function parse(data) {
  try {
    return JSON.parse(data);
  } catch (e) {
    console.error("tickforge dashboard: bad event data", e);
    return null;
  }
}

function connect() {
  const source = new EventSource("/dashboard/stream");
  source.addEventListener("open", () => setStatus("live"));
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) {
      setStatus("closed");
      setTimeout(connect, 3000); // the browser gave up; start a new stream
    } else {
      setStatus("reconnecting");
    }
  });
  // Sent first on every (re)connection: the server's kept samples replace ours.
  source.addEventListener("history", (event) => {
    const history = parse(event.data);
    if (!Array.isArray(history)) return;
    samples.splice(0, samples.length, ...history);
    keepWindow();
    if (history.length) lastReceived = Date.now();
    setStatus("live");
    scheduleRender();
  });
  source.addEventListener("sample", (event) => {
    const sample = parse(event.data);
    if (!sample || typeof sample.t_ms !== "number") return;
    samples.push(sample);
    keepWindow();
    lastReceived = Date.now();
    setStatus("live");
    scheduleRender();
  });
}

for (const svg of document.querySelectorAll("svg[data-chart]")) attachHover(svg.parentElement);
let resizeTimer = 0;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(scheduleRender, 100);
});
setInterval(showFreshness, 1000);
render();
connect();
