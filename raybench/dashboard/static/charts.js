/* raybench dashboard: formatting, DOM helpers and charts (uPlot for series, small SVG for the rest).
   Text from the log only ever reaches the page through textContent and SVG <title> text nodes. */
"use strict";
const RB = {};

RB.COLORS = {completed: "#009E73", pruned: "#E69F00", failed: "#D55E00", running: "#56B4E9", paused: "#CC79A7", pending: "#999999"};
RB.PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#8C6D1F", "#000000"];
RB.OUTCOMES = ["completed", "pruned", "failed", "running", "paused"];

RB.h = function (tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.appendChild(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
};

RB.s = function (tag, attrs, ...kids) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v); else el.setAttribute(k, String(v));
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined) continue;
    el.appendChild(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
};

RB.num = (v) => typeof v === "number" && isFinite(v);
RB.fmtV = (v, d = 4) => RB.num(v) ? (Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(2) : +v.toFixed(d) + "") : "–";
RB.fmtS = (s) => !RB.num(s) ? "–" : s < 120 ? s.toFixed(1) + " s" : s < 7200 ? (s / 60).toFixed(1) + " min" : (s / 3600).toFixed(2) + " h";
RB.fmtJ = (j) => !RB.num(j) ? "–" : j < 1e3 ? j.toFixed(1) + " J" : j < 1e6 ? (j / 1e3).toFixed(2) + " kJ" : (j / 1e6).toFixed(2) + " MJ";
RB.text = (v) => v === null || v === undefined ? "–" : typeof v === "object" ? JSON.stringify(v) : String(v);
RB.energyNote = (sum) => {
  const r = sum.energy_range_j;
  const wide = r && r.every(RB.num) && RB.fmtJ(r[0]) !== RB.fmtJ(r[1]);
  return sum.provenance + (wide ? `, range ${RB.fmtJ(r[0])} – ${RB.fmtJ(r[1])}` : "");
};
RB.cfgText = (cfg) => Object.entries(cfg || {}).map(([k, v]) => k + "=" + RB.text(v)).join("  ");

RB.reasonText = function (stop) {
  if (!stop) return "";
  const parts = [String(stop.rule || "stop")];
  if (stop.rung !== null && stop.rung !== undefined) parts.push("rung " + RB.text(stop.rung));
  if (stop.step !== null && stop.step !== undefined) parts.push("step " + stop.step);
  if (RB.num(stop.value)) parts.push("value " + RB.fmtV(stop.value));
  if (RB.num(stop.cutoff)) parts.push("cutoff " + RB.fmtV(stop.cutoff));
  if (RB.num(stop.probability)) parts.push("probability " + RB.fmtV(stop.probability, 3));
  if (stop.n_peers !== null && stop.n_peers !== undefined) parts.push(stop.n_peers + (stop.n_peers === 1 ? " peer" : " peers"));
  return parts.join(", ") + (stop.detail ? ": " + stop.detail : "");
};

/* the short form for a table cell: the rule (and rung), then the pruner's own sentence */
RB.reasonShort = (stop) => !stop ? "" : stop.detail ? String(stop.rule || "stop") + ": " + stop.detail : RB.reasonText(stop);

// Colour swatches are set through the CSSOM, which the page's Content-Security-Policy allows.
RB.paintLegends = (root) => root.querySelectorAll("i[data-c]").forEach((i) => { i.style.background = i.dataset.c; });

/* ---- uPlot charts, kept per container so updates call setData instead of rebuilding ---- */
RB.plots = new Map();
RB.width = (el) => Math.max(260, el.clientWidth || el.parentNode.clientWidth || 600);

RB.plot = function (el, key, makeOpts, data, shape) {
  let entry = RB.plots.get(key);
  if (entry && (entry.el !== el || entry.shape !== shape)) { entry.u.destroy(); entry = null; }
  if (!entry) {
    el.textContent = "";
    const opts = makeOpts(RB.width(el));
    entry = {u: new uPlot(opts, data, el), el, shape};
    RB.plots.set(key, entry);
  } else {
    entry.u.setData(data);
  }
  return entry.u;
};

RB.resizeAll = function () {
  for (const [key, e] of RB.plots) {
    if (!document.body.contains(e.el)) { e.u.destroy(); RB.plots.delete(key); continue; }
    const w = RB.width(e.el);
    if (Math.abs(w - e.u.width) > 4) e.u.setSize({width: w, height: e.u.height});
  }
};

RB.stepSeries = (label, color) => ({label, stroke: color, width: 2, paths: uPlot.paths.stepped({align: 1}),
  points: {show: true, size: 5}, spanGaps: true, value: (u, v) => RB.fmtV(v)});

/* best so far against x (time or joules): one or more runs, each [[x, best], ...] */
RB.anytime = function (el, key, xLabel, yLabel, runs) {
  const tables = runs.map((r) => [r.points.map((p) => p[0]), r.points.map((p) => p[1])]);
  const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
  const shape = runs.map((r) => r.label).join("|");
  return RB.plot(el, key, (w) => ({
    width: w, height: 240, scales: {x: {time: false}},
    series: [{label: xLabel, value: (u, v) => RB.fmtV(v, 1)}, ...runs.map((r) => RB.stepSeries(r.label, r.color))],
    axes: [{label: xLabel, size: 40}, {label: yLabel, size: 60, values: (u, vs) => vs.map((v) => RB.fmtV(v, 3))}],
    legend: {show: true},
  }), data, shape);
};

/* no ticks, labels or grid lines below 0 W, where the trial lanes are */
RB.nonNegative = (u, splits) => splits.map((v) => (v >= 0 ? v : null));

/* node power (one line per node) with the trials' spans in lanes under it */
RB.power = function (el, key, nodes, trials, nowS) {
  const tables = nodes.map((n) => [n.points.map((p) => p[0]), n.points.map((p) => p[1])]);
  const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
  const spans = [];
  for (const t of trials) for (const s of t.spans || []) spans.push([s[0], s[1] === null ? nowS : s[1], s[2], t.id]);
  spans.sort((a, b) => a[0] - b[0]);
  const ends = [];
  for (const s of spans) {
    let lane = ends.findIndex((e) => e <= s[0]);
    if (lane < 0) { lane = ends.length; ends.push(0); }
    ends[lane] = s[1];
    s.push(lane);
  }
  const lanes = Math.max(ends.length, 1);
  let maxW = 1;
  for (const n of nodes) for (const p of n.points) if (RB.num(p[1])) maxW = Math.max(maxW, p[1]);
  RB._power = RB._power || {};
  const rb = (RB._power[key] = RB._power[key] || {});
  Object.assign(rb, {spans, lanes, floor: -maxW * 0.35, maxW});
  const u = RB.plot(el, key, (w) => ({
    width: w, height: 260, scales: {x: {time: false}, y: {range: () => [rb.floor, rb.maxW * 1.08]}},
    series: [{label: "s", value: (u, v) => RB.fmtV(v, 1)},
      ...nodes.map((n, i) => ({label: n.label, stroke: RB.PALETTE[i % RB.PALETTE.length], width: 1.6,
        value: (u, v) => RB.num(v) ? v.toFixed(1) + " W" : "–", spanGaps: true}))],
    axes: [{label: "time since start, s", size: 40},
      {label: "node power, W", size: 60, filter: RB.nonNegative, ticks: {filter: RB.nonNegative}, grid: {filter: RB.nonNegative}}],
    hooks: {draw: [(u) => {
      const ctx = u.ctx, top = u.valToPos(rb.floor * 0.06, "y", true);
      const bottom = u.valToPos(rb.floor, "y", true), laneH = (bottom - top) / rb.lanes;
      ctx.save();
      for (const s of rb.spans) {
        const x0 = u.valToPos(s[0], "x", true), x1 = u.valToPos(s[1], "x", true);
        ctx.fillStyle = RB.COLORS[s[2]] || RB.COLORS.pending;
        ctx.fillRect(x0, top + s[4] * laneH + laneH * 0.12, Math.max(x1 - x0, 1.5), Math.max(laneH * 0.76, 1));
      }
      ctx.fillStyle = "#5f6b7a";
      ctx.font = `${Math.round(10 * devicePixelRatio)}px sans-serif`;
      ctx.textAlign = "right";
      ctx.fillText("trial spans", u.bbox.left + u.bbox.width - 4 * devicePixelRatio, top - 4 * devicePixelRatio);
      ctx.restore();
    }]},
  }), data, nodes.map((n) => n.label).join("|"));
  u.setScale("x", {min: u.data[0][0], max: Math.max(u.data[0][u.data[0].length - 1] || 0, nowS || 0)});
  return u;
};

/* bars over trial ids: y from 0, half a bar's room at each end */
RB.barScales = () => ({x: {time: false, range: (u, lo, hi) => [lo - 0.6, hi + 0.6]}, y: {range: (u, lo, hi) => [0, (hi || 1) * 1.05]}});

/* an x axis of trial ids: whole numbers only */
RB.trialAxis = () => ({label: "trial", size: 40, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000]});

/* energy per trial: bars over trial ids, one series per outcome */
RB.energyBars = function (el, key, trials) {
  const rows = trials.filter((t) => RB.num(t.energy_j)).sort((a, b) => a.id - b.id);
  const data = [rows.map((t) => t.id), ...RB.OUTCOMES.map((o) => rows.map((t) => (t.status === o ? t.energy_j : null)))];
  return RB.plot(el, key, (w) => ({
    width: w, height: 240, scales: RB.barScales(),
    series: [{label: "trial", value: (u, v) => RB.num(v) ? "#" + v : "–"},
      ...RB.OUTCOMES.map((o) => ({label: o, fill: RB.COLORS[o], stroke: RB.COLORS[o], width: 0,
        paths: uPlot.paths.bars({size: [0.8, 40]}), points: {show: false}, value: (u, v) => RB.fmtJ(v)}))],
    axes: [RB.trialAxis(), {label: "attributed energy, J", size: 60}],
  }), data, "bars");
};

/* the pruning timeline: one row per trial from its first to its last reported step, an X at each stop */
RB.TIMELINE_ROWS = 150;
RB.timeline = function (el, trials, onPick, picked) {
  const all = trials.filter((t) => RB.num(t.last_step)).sort((a, b) => a.id - b.id);
  const rows = all.slice(-RB.TIMELINE_ROWS);
  const W = RB.width(el), rowH = rows.length > 40 ? 9 : 16, left = 52, right = 16, top = 10;
  const H = top + rows.length * rowH + 34;
  let maxStep = 1, minStep = Infinity;
  for (const t of rows) { maxStep = Math.max(maxStep, t.last_step); minStep = Math.min(minStep, RB.num(t.first_step) ? t.first_step : t.last_step); }
  minStep = Math.min(minStep, maxStep);
  const span = Math.max(maxStep - minStep, 1), pad = span * 0.04;
  const x = (v) => left + ((v - minStep + pad) / (span + 2 * pad)) * (W - left - right);
  const svg = RB.s("svg", {width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img",
    "aria-label": "pruning timeline"});
  const axis = RB.s("g", {class: "axis"});
  const ticks = Math.min(span, 10);
  for (let i = 0; i <= ticks; i++) {
    const v = Math.round(minStep + (i * span) / ticks);
    axis.append(RB.s("line", {x1: x(v), x2: x(v), y1: top, y2: H - 24, "stroke-dasharray": "2 3"}),
      RB.s("text", {x: x(v), y: H - 10, "text-anchor": "middle"}, String(v)));
  }
  axis.append(RB.s("text", {x: left, y: H - 10, "text-anchor": "end"}, "step"));
  svg.append(axis);
  rows.forEach((t, i) => {
    const y = top + i * rowH + rowH / 2, c = RB.COLORS[t.status] || RB.COLORS.pending;
    const g = RB.s("g", {}, RB.s("title", {}, `trial ${t.id} (${t.status}), steps ${t.first_step}–${t.last_step}`));
    if (rows.length <= 60 || i % Math.ceil(rows.length / 40) === 0)
      g.append(RB.s("text", {x: left - 6, y: y + 4, "text-anchor": "end"}, "#" + t.id));
    g.append(RB.s("line", {x1: x(t.first_step), x2: x(t.last_step), y1: y, y2: y, stroke: c,
      "stroke-width": rowH > 10 ? 4 : 2, "stroke-linecap": "round"}),
    RB.s("circle", {cx: x(t.first_step), cy: y, r: rowH > 10 ? 3 : 1.5, fill: c}));
    svg.append(g);
    if (t.stop) {
      const sx = x(RB.num(t.stop.step) ? t.stop.step : t.last_step), r = rowH > 10 ? 6 : 4;
      const mark = RB.s("g", {class: "stop" + (picked === t.id ? " sel" : ""), tabindex: 0, "data-trial": t.id,
        onclick: () => onPick(t), onkeydown: (ev) => { if (ev.key === "Enter") onPick(t); }},
      RB.s("title", {}, `trial ${t.id} stopped: ${RB.reasonText(t.stop)}`),
      RB.s("circle", {cx: sx, cy: y, r: r + 3, fill: "transparent"}),
      RB.s("path", {d: `M${sx - r},${y - r}L${sx + r},${y + r}M${sx - r},${y + r}L${sx + r},${y - r}`,
        stroke: "#B22222", "stroke-width": 2.5}));
      svg.append(mark);
    }
  });
  el.textContent = "";
  if (rows.length < all.length) el.append(RB.h("div", {class: "count"}, `The last ${rows.length} of ${all.length} trials; the trial table lists every stop.`));
  el.append(svg);
};

/* stopped against completed configurations, one small chart per hyperparameter */
RB.paramCharts = function (el, names, trials) {
  el.textContent = "";
  el.classList.add("params");
  const groups = {completed: trials.filter((t) => t.status === "completed"), pruned: trials.filter((t) => t.status === "pruned")};
  for (const name of names) {
    const vals = (g) => groups[g].map((t) => t.config ? t.config[name] : undefined).filter((v) => v !== undefined);
    const all = [...vals("completed"), ...vals("pruned")];
    if (!all.length) continue;
    const distinct = [...new Set(all.map(RB.text))];
    const numeric = all.every(RB.num) && distinct.length > 8;
    let bins, key;
    if (numeric) {
      const lo = Math.min(...all), hi = Math.max(...all), log = lo > 0 && hi / lo >= 100, n = 10;
      const f = log ? Math.log10 : (v) => v, a = f(lo), b = f(hi) === a ? a + 1 : f(hi);
      key = (v) => Math.min(n - 1, Math.floor(((f(v) - a) / (b - a)) * n));
      const edge = (i) => (log ? Math.pow(10, a + ((b - a) * i) / n) : a + ((b - a) * i) / n);
      bins = Array.from({length: n}, (_, i) => RB.fmtV(edge(i), 3));
      bins.title = `${RB.fmtV(lo, 3)} – ${RB.fmtV(hi, 3)}${log ? " (log bins)" : ""}`;
    } else {
      bins = distinct.sort((p, q) => (RB.num(+p) && RB.num(+q) ? +p - +q : p < q ? -1 : 1)).slice(0, 12);
      key = (v) => bins.indexOf(RB.text(v));
    }
    const counts = {completed: bins.map(() => 0), pruned: bins.map(() => 0)};
    for (const g of ["completed", "pruned"]) for (const v of vals(g)) { const k = key(v); if (k >= 0) counts[g][k]++; }
    const W = 250, H = 130, left = 26, bottom = 30, top = 6, max = Math.max(1, ...counts.completed, ...counts.pruned);
    const bw = (W - left - 4) / bins.length;
    const svg = RB.s("svg", {width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": name});
    svg.append(RB.s("text", {x: left - 4, y: top + 8, "text-anchor": "end"}, String(max)),
      RB.s("text", {x: left - 4, y: H - bottom, "text-anchor": "end"}, "0"),
      RB.s("line", {x1: left, x2: W - 4, y1: H - bottom, y2: H - bottom, stroke: "#c5cdd6"}));
    bins.forEach((label, i) => {
      ["completed", "pruned"].forEach((g, j) => {
        const c = counts[g][i], hh = ((H - bottom - top) * c) / max;
        if (c) svg.append(RB.s("rect", {x: left + i * bw + 2 + (j * (bw - 4)) / 2, y: H - bottom - hh, width: Math.max((bw - 4) / 2 - 1, 1),
          height: hh, fill: RB.COLORS[g]}, RB.s("title", {}, `${name} ${numeric ? "≥ " : "= "}${label}: ${c} ${g === "pruned" ? "stopped" : "completed"}`)));
      });
      if (!numeric || i % 3 === 0) svg.append(RB.s("text", {x: left + i * bw + bw / 2, y: H - bottom + 13,
        "text-anchor": "middle"}, label.length > 9 ? label.slice(0, 8) + "…" : label));
    });
    const n = `${name}  (${vals("pruned").length} stopped, ${vals("completed").length} completed)`;
    el.append(RB.h("figure", {}, RB.h("figcaption", {}, n), svg, numeric ? RB.h("div", {class: "count"}, bins.title) : null));
  }
  if (!el.children.length) el.append(RB.h("p", {class: "empty"}, "No completed or stopped trial yet."));
};
