/* raybench dashboard: routes (#/, #/run/ID, #/compare/ID,ID), the live stream, pages and tables. */
"use strict";
(function () {
  const {h} = RB;
  const main = document.getElementById("main"), crumbs = document.getElementById("crumbs"), live = document.getElementById("live");
  const MAX_ROWS = 100;
  const S = {es: null, route: null, runs: null, root: "", run: null, trials: new Map(), version: 0, epoch: null,
    picked: null, sort: {key: "id", dir: 1}, filter: "", status: "", selected: new Set(), fresh: new Set(),
    timer: null, compareAt: 0};

  function route() {
    const m = location.hash.match(/^#\/(run|compare)\/(.+)$/);
    if (!m) return {page: "list"};
    if (m[1] === "run") return {page: "run", id: decodeURIComponent(m[2])};
    return {page: "compare", ids: m[2].split(",").map(decodeURIComponent)};
  }
  const runHref = (id) => "#/run/" + encodeURIComponent(id);

  function setLive(state, text) { live.className = "live " + state; live.textContent = text; }

  function connect() {
    if (S.es) S.es.close();
    const q = new URLSearchParams();
    if (S.route.page === "run") { q.set("id", S.route.id); q.set("since", S.version); if (S.epoch !== null) q.set("epoch", S.epoch); }
    const es = (S.es = new EventSource("api/stream?" + q));
    es.onopen = () => setLive("on", "live");
    es.addEventListener("runs", (ev) => { S.runs = JSON.parse(ev.data); onRuns(); });
    es.addEventListener("run", (ev) => onRun(JSON.parse(ev.data)));
    es.onerror = () => {
      setLive("off", "reconnecting");
      es.close();
      clearTimeout(S.timer);
      S.timer = setTimeout(() => { if (S.es === es) connect(); }, 1500);
    };
  }

  function navigate() {
    S.route = route();
    S.run = null; S.trials = new Map(); S.version = 0; S.epoch = null; S.picked = null; S.fresh = new Set();
    main.textContent = "";
    for (const [, e] of RB.plots) e.u.destroy();
    RB.plots.clear();
    if (S.route.page === "run") buildRun();
    else if (S.route.page === "compare") { main.append(h("p", {class: "empty"}, "Loading the runs…")); loadCompare(true); }
    else renderList();
    renderCrumbs();
    connect();
  }

  function renderCrumbs() {
    crumbs.textContent = "";
    const root = S.runs ? S.runs.root : "";
    crumbs.append(h("a", {href: "#/"}, "all runs" + (root ? " (" + root + ")" : "")));
    if (S.route.page === "run") crumbs.append(" / ", S.route.id);
    if (S.route.page === "compare") crumbs.append(" / compare " + S.route.ids.length + " runs");
  }

  function onRuns() {
    renderCrumbs();
    if (S.route.page === "list") renderList();
    if (S.route.page === "compare" && Date.now() - S.compareAt > 1000) loadCompare(false);
  }

  /* ---- the run list ---- */
  function logNote(log) {
    if (!log) return null;
    if (log.error) return h("span", {class: "badge failed", title: log.error}, "unreadable log");
    if (log.damage_count) return h("span", {class: "badge pruned", title: "damaged stretches were skipped"}, log.damage_count + " damaged");
    return null;
  }

  function renderList() {
    main.textContent = "";
    if (!S.runs) { main.append(h("p", {class: "empty"}, "Loading…")); return; }
    const runs = S.runs.runs;
    main.append(h("h1", {}, "Runs"), h("div", {class: "sub"}, "Folder: " + S.runs.root + ". The list updates as runs start and finish."));
    if (!runs.length) {
      main.append(h("div", {class: "notice info"}, h("b", {}, "No runs here yet. "),
        "A run directory is a folder holding an events.msgpack. Start one with ",
        h("code", {}, "raybench run CONFIG --out " + S.runs.root + "/NAME"),
        " and it appears here within a few seconds."));
      return;
    }
    const btn = h("button", {class: "primary", disabled: S.selected.size < 2, onclick: () => {
      location.hash = "#/compare/" + [...S.selected].map(encodeURIComponent).join(",");
    }}, `Compare selected (${S.selected.size})`);
    const rows = runs.map((r) => {
      const c = r.counts || {};
      const box = h("input", {type: "checkbox", "aria-label": "select " + r.id, checked: S.selected.has(r.id), onchange: (ev) => {
        if (ev.target.checked) S.selected.add(r.id); else S.selected.delete(r.id);
        btn.disabled = S.selected.size < 2; btn.textContent = `Compare selected (${S.selected.size})`;
      }});
      const best = r.best ? RB.fmtV(r.best.value) + " (#" + r.best.trial_id + ")" : "–";
      return h("tr", {"data-run": r.id},
        h("td", {}, box),
        h("td", {}, h("a", {href: runHref(r.id)}, r.name || r.id), h("div", {class: "count"}, r.id)),
        h("td", {}, h("span", {class: "badge " + r.status}, r.status), " ", logNote(r.log)),
        h("td", {class: "num"}, String(c.total || 0), h("div", {class: "count"}, `${c.completed || 0} done · ${c.pruned || 0} pruned · ${c.failed || 0} failed · ${c.running || 0} running` + (c.paused ? ` · ${c.paused} paused` : ""))),
        h("td", {class: "num"}, best, h("div", {class: "count"}, (r.metric || {}).name || "")),
        h("td", {class: "num"}, RB.fmtJ(r.energy_j), h("div", {class: "count"}, r.provenance || "")),
        h("td", {class: "num"}, RB.fmtS(r.jct_s)),
        h("td", {}, [r.sampler, r.pruner].filter(Boolean).join(" / ") || "–"));
    });
    main.append(h("div", {class: "toolbar"}, btn, h("span", {class: "count"}, "Tick two or more runs to overlay their curves.")),
      h("div", {class: "panel scroll"}, h("table", {id: "runs"},
        h("thead", {}, h("tr", {}, ["", "run", "status", "trials", "best", "energy", "JCT", "sampler / pruner"].map((t, i) =>
          h("th", {class: i >= 3 && i <= 6 ? "num" : null}, t)))),
        h("tbody", {}, rows))));
  }

  /* ---- one run ---- */
  function panel(id, title, hint, wide) {
    return h("section", {class: "panel" + (wide ? " wide" : ""), id: "p-" + id}, h("h2", {}, title),
      hint ? h("div", {class: "hint"}, hint) : null, h("div", {class: "chart", id: id}));
  }

  function buildRun() {
    main.append(h("h1", {id: "run-title"}, S.route.id), h("div", {class: "sub", id: "run-sub"}, "Waiting for the log…"),
      h("div", {id: "run-notice"}), h("div", {class: "cards", id: "cards"}),
      h("div", {class: "grid", id: "run-grid"},
        panel("best-time", "Best so far against time", "Steps where a finished trial improved the best value."),
        panel("best-energy", "Best so far against energy", "The same best value against the joules of all nodes measured up to then."),
        panel("power", "Node power and trial spans", "Each node's power; below it, one bar per trial attempt, coloured by how it ended."),
        panel("energy", "Energy per trial", "Each trial's own CPU, DRAM and GPU joules as the energy ledger attributes them, coloured by outcome."),
        h("section", {class: "panel wide", id: "p-timeline"}, h("h2", {}, "Pruning timeline"),
          h("div", {class: "hint"}, "One row per trial from its first to its last reported step; × marks a stop. Hover or click a × for its reason."),
          h("div", {class: "chart", id: "timeline"}), h("div", {class: "detail", id: "stop-detail"}, "Click a × to see why that trial was stopped.")),
        panel("params", "Stopped and completed configurations", "Per hyperparameter: how the stopped (orange) and completed (green) trials spread.", true),
        h("section", {class: "panel wide", id: "p-audit", hidden: true}, h("h2", {}, "Audit of the stops"), h("div", {id: "audit"})),
        h("section", {class: "panel wide"}, h("h2", {}, "Trials"), h("div", {class: "toolbar"},
          h("input", {type: "search", id: "filter", placeholder: "filter: id, config, node, stop reason…", value: S.filter,
            oninput: (ev) => { S.filter = ev.target.value; renderTable(); }}),
          h("select", {id: "status-filter", onchange: (ev) => { S.status = ev.target.value; renderTable(); }},
            ["", "completed", "pruned", "failed", "running", "paused", "pending"].map((s) => h("option", {value: s}, s || "any status"))),
          h("span", {class: "count", id: "table-count"})),
        h("div", {class: "scroll"}, h("table", {id: "trials"}))),
        h("section", {class: "panel wide", id: "p-warnings", hidden: true}, h("h2", {}, "Recent warnings"), h("div", {id: "warnings"}))));
  }

  function onRun(snap) {
    if (S.route.page !== "run" || snap.id !== S.route.id) return;
    if (snap.since === 0) { S.trials = new Map(); }
    else for (const t of snap.trials) S.fresh.add(t.id);
    for (const t of snap.trials) S.trials.set(t.id, t);
    S.version = snap.version; S.epoch = snap.epoch; S.run = snap;
    requestAnimationFrame(renderRun);
  }

  function empty(el, text) {
    for (const [key, e] of RB.plots) if (e.el === el) { e.u.destroy(); RB.plots.delete(key); }
    el.textContent = "";
    el.append(h("p", {class: "empty"}, text));
  }

  function card(k, v, n) { return h("div", {class: "card"}, h("div", {class: "k"}, k), h("div", {class: "v"}, v), n ? h("div", {class: "n"}, n) : null); }

  function renderRun() {
    const snap = S.run;
    if (!snap) return;
    const sum = snap.summary, c = sum.counts, trials = [...S.trials.values()], metric = sum.metric.name;
    document.getElementById("run-title").textContent = (sum.name || snap.id);
    document.getElementById("run-title").append(" ", h("span", {class: "badge " + sum.status}, sum.status));
    document.getElementById("run-sub").textContent = [snap.id, sum.run_id && "run " + sum.run_id,
      sum.sampler && sum.sampler + " sampler", sum.pruner && sum.pruner + " pruner", `metric ${metric} (${sum.metric.mode})`,
      sum.end_reason].filter(Boolean).join(" · ");
    const unreadable = !!snap.log.error && !sum.events;
    document.getElementById("cards").hidden = unreadable;
    document.getElementById("run-grid").hidden = unreadable;
    const notice = document.getElementById("run-notice");
    notice.textContent = "";
    if (snap.log.error) notice.append(h("div", {class: "notice error"}, h("b", {}, "This log cannot be read: "), snap.log.error));
    else if (snap.log.damage_count) notice.append(h("div", {class: "notice warn"}, h("b", {}, "The log is damaged: "),
      `${snap.log.damage_count} stretch(es) could not be read and were skipped (${[...new Set(snap.log.damage.map((d) => d.kind))].join(", ")}). Everything readable is shown.`));
    else if (snap.log.tail_damage) notice.append(h("div", {class: "notice warn"}, h("b", {}, "The end of the log is damaged: "),
      `its last ${snap.log.pending_bytes} bytes are not a readable record (${snap.log.tail_damage}). Everything before them is shown.`));
    else if (sum.bad_events) notice.append(h("div", {class: "notice warn"}, h("b", {}, "Some events were not understood: "),
      `${sum.bad_events} event(s) had fields of unexpected types and were left out.`));
    else if (!sum.events) notice.append(h("div", {class: "notice info"}, "The log holds no events yet; this page fills in as the run writes them."));
    const cards = document.getElementById("cards");
    cards.textContent = "";
    cards.append(card("trials", String(c.total), `${c.completed} done · ${c.pruned} pruned · ${c.failed} failed · ${c.running} running` + (c.paused ? ` · ${c.paused} paused` : "")),
      card("best " + metric, sum.best ? RB.fmtV(sum.best.value) : "–", sum.best ? `trial #${sum.best.trial_id} (${sum.best.status})` : "no trial ended yet"),
      card("energy", RB.fmtJ(sum.energy_j), sum.energy_j === null ? "no energy samples" : RB.energyNote(sum)),
      card("job time", RB.fmtS(sum.jct_s), sum.status === "running" ? "so far" : "start to end"),
      card("stops", String(sum.stops), Object.entries(sum.stops_by_rule).map(([r, n]) => `${r} ${n}`).join(", ") || "no stop decisions"),
      card("events read", String(sum.events), snap.log.pending_bytes ? "a record is being written" : "log followed to its end"));

    const any = snap.anytime;
    const el = (id) => document.getElementById(id);
    if (any.length) RB.anytime(el("best-time"), "bt", "time since start, s", metric, [{label: "best " + metric, color: RB.PALETTE[0], points: any.map((p) => [p[0], p[2]])}]);
    else empty(el("best-time"), "No trial has ended yet.");
    if (any.length && sum.energy_j !== null) RB.anytime(el("best-energy"), "be", "energy, J", metric, [{label: "best " + metric, color: RB.PALETTE[2], points: any.map((p) => [p[1], p[2]])}]);
    else empty(el("best-energy"), sum.energy_j === null ? "No energy samples in this log." : "No trial has ended yet.");
    const nodes = Object.entries(snap.power).map(([id, n]) => ({label: n.host ? `${n.host} (${id.slice(0, 6)})` : id.slice(0, 12), points: n.points}));
    if (nodes.length) RB.power(el("power"), "pw", nodes, trials, snap.now_s);
    else empty(el("power"), "No energy samples in this log.");
    if (trials.some((t) => RB.num(t.energy_j))) {
      RB.energyBars(el("energy"), "en", trials);
    } else empty(el("energy"), "No trial has reported energy yet.");
    const pick = (t) => { S.picked = t.id; showStop(t); RB.timeline(el("timeline"), trials, pick, S.picked); };
    if (trials.some((t) => RB.num(t.last_step))) RB.timeline(el("timeline"), trials, pick, S.picked);
    else empty(el("timeline"), "No trial has reported a step yet.");
    if (S.picked !== null && S.trials.has(S.picked)) showStop(S.trials.get(S.picked));
    const names = snap.params.length ? snap.params : [...new Set(trials.flatMap((t) => Object.keys(t.config || {})))].sort();
    RB.paramCharts(el("params"), names, trials);
    renderAudit(snap.audit);
    renderWarnings(snap.recent_warnings);
    renderTable();
    S.fresh.clear();
  }

  function showStop(t) {
    const box = document.getElementById("stop-detail");
    box.textContent = "";
    if (!t.stop) { box.append(`Trial ${t.id} was not stopped.`); return; }
    const s = t.stop;
    const rows = [["trial", "#" + t.id + " (" + t.status + ")"], ["rule", s.rule], ["rung", s.rung], ["step", s.step],
      ["progress", RB.num(s.progress) ? s.progress + " " + (s.unit || "") : null], ["value", RB.fmtV(s.value)],
      ["cutoff", RB.num(s.cutoff) ? RB.fmtV(s.cutoff) : null], ["probability", RB.num(s.probability) ? RB.fmtV(s.probability, 3) : null],
      ["peers", s.n_peers], ["when", RB.fmtS(s.t_s) + " after the start"], ["why", s.detail], ["config", RB.cfgText(t.config)]];
    box.append(h("b", {}, `Trial ${t.id} stopped: `), RB.reasonText(s),
      h("dl", {}, rows.filter((r) => r[1] !== null && r[1] !== undefined && r[1] !== "").flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, RB.text(v))])));
  }

  const AUDIT_COLS = ["trial_id", "step", "rule", "value", "cutoff", "probability", "saved_j", "saved_s",
    "would_have_final", "wrong", "counterfactual", "detail"];

  function auditFigure(k, v) {
    if (/_j$/.test(k)) return RB.fmtJ(v);
    if (/_s$/.test(k)) return RB.fmtS(v);
    if (/_rate$/.test(k) && RB.num(v)) return (100 * v).toFixed(1) + " %";
    if (Array.isArray(v) && v.length === 2 && v.every(RB.num)) return `${(100 * v[0]).toFixed(1)} – ${(100 * v[1]).toFixed(1)} %`;
    return typeof v === "number" ? RB.fmtV(v, 4) : RB.text(v);
  }

  /* audit.json as raybench.report.audit writes it: totals, rows (one per stop), basis */
  function renderAudit(audit) {
    const sec = document.getElementById("p-audit"), box = document.getElementById("audit");
    sec.hidden = !audit;
    if (!audit) return;
    box.textContent = "";
    if (audit.error) { box.append(h("div", {class: "notice error"}, audit.error)); return; }
    if (audit.basis) box.append(h("div", {class: "hint"}, "Savings are " + audit.basis + "."));
    const totals = audit.totals && typeof audit.totals === "object" ? audit.totals : {};
    const cards = h("div", {class: "cards"});
    for (const [k, v] of Object.entries(totals)) cards.append(card(k.replace(/_/g, " "), auditFigure(k, v)));
    box.append(cards);
    const all = Array.isArray(audit.rows) ? audit.rows : Array.isArray(audit.stops) ? audit.stops : [];
    const stops = all.filter((r) => r && typeof r === "object");
    const bars = stops.filter((r) => RB.num(r.trial_id) && RB.num(r.saved_j) && !r.counterfactual).sort((a, b) => a.trial_id - b.trial_id);
    if (bars.length) {
      const chart = h("div", {class: "chart", id: "audit-saved"});
      box.append(h("h2", {}, "Joules saved per stop"), h("div", {class: "hint"},
        "Colour: whether the stop was wrong (the trial would have beaten the best), where the audit knows its full curve."), chart);
      const cls = (r) => r.wrong === true ? "failed" : r.wrong === false ? "completed" : "pending";
      RB.plot(chart, "audit", (w) => ({width: w, height: 220, scales: RB.barScales(),
        series: [{label: "trial"}, ...[["right", "completed"], ["wrong", "failed"], ["not known", "pending"]].map(([l, o]) => ({label: l, fill: RB.COLORS[o], stroke: RB.COLORS[o],
          paths: uPlot.paths.bars({size: [0.8, 40]}), points: {show: false}, value: (u, v) => RB.fmtJ(v)}))],
        axes: [RB.trialAxis(), {label: "saved, J (estimated)", size: 60}]}),
      [bars.map((r) => r.trial_id), ...["completed", "failed", "pending"].map((o) => bars.map((r) => (cls(r) === o ? r.saved_j : null)))], "audit");
    }
    if (stops.length) {
      const keys = new Set(stops.flatMap((r) => Object.keys(r)));
      const cols = [...AUDIT_COLS.filter((c) => keys.has(c)), ...[...keys].filter((c) => !AUDIT_COLS.includes(c))].slice(0, 14);
      box.append(h("div", {class: "scroll"}, h("table", {id: "audit-stops"}, h("thead", {}, h("tr", {}, cols.map((c) => h("th", {}, c.replace(/_/g, " "))))),
        h("tbody", {}, stops.slice(0, MAX_ROWS).map((r) => h("tr", {}, cols.map((c) => h("td", {}, c === "saved_j" ? RB.fmtJ(r[c]) : c === "saved_s" ? RB.fmtS(r[c]) : typeof r[c] === "number" ? RB.fmtV(r[c]) : RB.text(r[c])))))))));
    }
  }

  function renderWarnings(list) {
    const sec = document.getElementById("p-warnings");
    sec.hidden = !list.length;
    const box = document.getElementById("warnings");
    box.textContent = "";
    box.append(h("table", {}, h("tbody", {}, list.slice().reverse().map(([t, code, msg]) => h("tr", {}, h("td", {class: "num"}, RB.fmtS(t)), h("td", {}, code), h("td", {}, msg))))));
  }

  const COLS = [["id", "trial", (t) => t.id, true], ["status", "status", (t) => t.status], ["value", "final", (t) => t.value, true],
    ["best", "best", (t) => t.best, true], ["steps", "steps", (t) => t.steps, true], ["energy_j", "energy", (t) => t.energy_j, true],
    ["duration_s", "duration", (t) => t.duration_s, true], ["attempts", "attempts", (t) => t.attempts, true], ["node", "node", (t) => t.node],
    ["stop", "stop reason or error", (t) => (t.stop ? RB.reasonShort(t.stop) : t.error ? t.cause + ": " + t.error : "")],
    ["config", "config", (t) => RB.cfgText(t.config)]];

  function renderTable() {
    const table = document.getElementById("trials");
    if (!table) return;
    const f = S.filter.trim().toLowerCase(), [key, dir] = [S.sort.key, S.sort.dir];
    const col = COLS.find((c) => c[0] === key) || COLS[0];
    let rows = [...S.trials.values()].filter((t) => (!S.status || t.status === S.status) &&
      (!f || COLS.some((c) => String(c[2](t) ?? "").toLowerCase().includes(f)) || ("#" + t.id) === f));
    rows.sort((a, b) => {
      const x = col[2](a), y = col[2](b);
      if (x === y) return a.id - b.id;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (x < y ? -1 : 1) * dir;
    });
    document.getElementById("table-count").textContent = `${rows.length} of ${S.trials.size} trials` + (rows.length > MAX_ROWS ? `, first ${MAX_ROWS} shown` : "");
    table.textContent = "";
    table.append(h("thead", {}, h("tr", {}, COLS.map(([k, label, , num]) => h("th", {class: "sort" + (num ? " num" : "") + (k === key ? (dir > 0 ? " asc" : " desc") : ""),
      onclick: () => { S.sort = {key: k, dir: k === key ? -dir : 1}; renderTable(); }}, label)))),
    h("tbody", {}, rows.slice(0, MAX_ROWS).map((t) => h("tr", {"data-trial": t.id, class: S.fresh.has(t.id) ? "fresh" : null},
      h("td", {class: "num"}, "#" + t.id), h("td", {}, h("span", {class: "badge " + t.status}, t.status)),
      h("td", {class: "num"}, RB.fmtV(t.value)), h("td", {class: "num"}, RB.fmtV(t.best)), h("td", {class: "num"}, String(t.steps)),
      h("td", {class: "num"}, RB.fmtJ(t.energy_j)), h("td", {class: "num"}, RB.fmtS(t.duration_s)), h("td", {class: "num"}, String(t.attempts)),
      h("td", {}, t.node || "–"), h("td", {}, COLS[9][2](t)), h("td", {class: "cfg"}, RB.cfgText(t.config))))));
  }

  /* ---- compare ---- */
  async function loadCompare(first) {
    S.compareAt = Date.now();
    const q = new URLSearchParams();
    for (const id of S.route.ids) q.append("id", id);
    let data;
    try {
      const resp = await fetch("api/compare?" + q);
      if (!resp.ok) { main.textContent = ""; main.append(h("div", {class: "notice error"}, (await resp.text()).trim())); return; }
      data = await resp.json();
    } catch (e) { return; }
    if (S.route.page !== "compare") return;
    renderCompare(data.runs, first);
  }

  function renderCompare(runs, first) {
    if (first || !document.getElementById("cmp-time")) {
      main.textContent = "";
      main.append(h("h1", {}, `Compare ${runs.length} runs`), h("div", {class: "sub"}, runs.map((r) => r.id).join(" · ")),
        h("div", {class: "grid"},
          panel("cmp-time", "Best so far against time", "Each run's best value as its trials finished."),
          panel("cmp-energy", "Best so far against energy", "The same against each run's joules so far."),
          h("section", {class: "panel wide"}, h("h2", {}, "Summary"), h("div", {class: "scroll"}, h("table", {id: "compare"})))));
    }
    const label = (r, i) => `${r.name || r.id}` + (runs.filter((q) => q.name === r.name).length > 1 ? ` [${r.id}]` : "");
    const metric = (runs[0] && runs[0].metric.name) || "metric";
    const series = (k) => runs.map((r, i) => ({label: label(r, i), color: RB.PALETTE[i % RB.PALETTE.length], points: r.anytime.map((p) => [p[k], p[2]])}))
      .filter((s) => s.points.length);
    const tEl = document.getElementById("cmp-time"), eEl = document.getElementById("cmp-energy");
    const st = series(0), se = series(1).filter((s, i) => runs[i] && runs[i].energy_j !== null);
    if (st.length) RB.anytime(tEl, "ct", "time since start, s", metric, st); else tEl.textContent = "No trial has ended in these runs yet.";
    if (se.length) RB.anytime(eEl, "ce", "energy, J", metric, se); else eEl.textContent = "No energy samples in these runs.";
    const figs = [["status", (r) => r.status], ["trials", (r) => r.counts.total], ["completed", (r) => r.counts.completed],
      ["pruned", (r) => r.counts.pruned], ["failed", (r) => r.counts.failed], ["best " + metric, (r) => (r.best ? RB.fmtV(r.best.value) : "–")],
      ["best trial", (r) => (r.best ? "#" + r.best.trial_id + " " + RB.cfgText(r.best.config) : "–")], ["energy", (r) => RB.fmtJ(r.energy_j)],
      ["energy provenance", (r) => (r.energy_j === null ? "no energy samples" : RB.energyNote(r))], ["JCT", (r) => RB.fmtS(r.jct_s)], ["stops", (r) => r.stops],
      ["sampler", (r) => r.sampler || "–"], ["pruner", (r) => r.pruner || "–"], ["resumes", (r) => r.resumes]];
    const table = document.getElementById("compare");
    table.textContent = "";
    table.append(h("thead", {}, h("tr", {}, h("th", {}, ""), runs.map((r, i) => h("th", {}, h("i", {"data-c": RB.PALETTE[i % RB.PALETTE.length], class: "sw"}), " ",
      h("a", {href: runHref(r.id)}, label(r, i)))))),
    h("tbody", {}, figs.map(([k, f]) => h("tr", {}, h("th", {}, k), runs.map((r) => h("td", {class: k === "best trial" ? "cfg" : null}, RB.text(f(r))))))));
    RB.paintLegends(table);
  }

  window.addEventListener("hashchange", navigate);
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { RB.resizeAll(); if (S.run) renderRun(); }, 150);
  });
  navigate();
})();
