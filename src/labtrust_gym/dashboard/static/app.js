// LabTrust-Gym dashboard: plain JS, no build step. Every value from the API goes into
// the page as text (textContent / SVG text nodes), never as HTML.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const $main = () => document.getElementById("main");
let INDEX = null;
let timers = [];

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of kids.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
  }
  return el;
}

function s(tag, attrs, ...kids) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, String(v));
  }
  for (const c of kids.flat()) if (c) el.appendChild(c);
  return el;
}

function title(text) { return s("title", { text }); }

async function api(path, opts) {
  const r = await fetch(path, opts);
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.detail || (r.status + " " + r.statusText));
  return body;
}

function fmt(v, d) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "number") {
    if (Number.isInteger(v)) return String(v);
    const digits = d === undefined ? 3 : d;
    return Math.abs(v) >= 1000 ? v.toFixed(0) : Number(v.toPrecision(digits)).toString();
  }
  return String(v);
}

function ci(m) {
  if (!m || m.mean === null || m.mean === undefined) return h("span", { class: "muted", text: "–" });
  const lo = m.ci95_low, hi = m.ci95_high;
  return h("span", {}, fmt(m.mean),
    lo === null || lo === undefined ? h("span", { class: "ci", text: " (n=" + (m.n || 1) + ", no CI)" })
      : h("span", { class: "ci", text: " [" + fmt(lo) + ", " + fmt(hi) + "]" }));
}

function showInfo(text) {
  const box = document.getElementById("info");
  box.textContent = text;
  box.hidden = !text;
}

function setStatus(text) { document.getElementById("status").textContent = text || ""; }

function sortableTable(columns, rows, opts) {
  // columns: [{key, label, num, render(row), value(row)}]
  let sortKey = (opts && opts.sortKey) || null, dir = 1;
  const table = h("table", { class: (opts && opts.cls) || "" });
  const thead = h("thead");
  const tbody = h("tbody");
  table.append(thead, tbody);
  function value(c, r) { return c.value ? c.value(r) : r[c.key]; }
  function draw() {
    thead.textContent = "";
    const tr = h("tr");
    for (const c of columns) {
      const th = h("th", { class: "sortable" + (sortKey === c.key ? (dir > 0 ? " sorted-asc" : " sorted-desc") : ""),
        "data-key": c.key, text: c.label,
        onclick: () => { if (sortKey === c.key) dir = -dir; else { sortKey = c.key; dir = 1; } draw(); } });
      tr.appendChild(th);
    }
    thead.appendChild(tr);
    let rs = rows.slice();
    if (sortKey) {
      const c = columns.find(x => x.key === sortKey);
      rs.sort((a, b) => {
        const x = value(c, a), y = value(c, b);
        if (x === y) return 0;
        if (x === null || x === undefined) return 1;
        if (y === null || y === undefined) return -1;
        return (x < y ? -1 : 1) * dir;
      });
    }
    tbody.textContent = "";
    for (const r of rs) {
      const tr2 = h("tr", opts && opts.rowAttrs ? opts.rowAttrs(r) : {});
      for (const c of columns) {
        const v = c.render ? c.render(r) : fmt(value(c, r));
        tr2.appendChild(h("td", { class: c.num ? "num" : "" }, v));
      }
      tbody.appendChild(tr2);
    }
  }
  draw();
  return table;
}

// ---------------------------------------------------------------- runs
function metric(r, k) { return r.metrics && r.metrics[k] ? r.metrics[k].mean : null; }

async function viewRuns() {
  const runs = await api("/api/runs");
  const sel = new Set();
  const filter = h("input", { type: "search", id: "run-filter", placeholder: "filter: task, method, profile, plugin…" });
  const cmp = h("button", { id: "compare", disabled: true, text: "Compare selected (2)",
    onclick: () => { const [a, b] = [...sel]; location.hash = "#/compare/" + a + "/" + b; } });
  const holder = h("div", { class: "scroll" });
  const cols = [
    { key: "sel", label: "", render: r => h("input", { type: "checkbox", "data-run": r.id, onchange: e => {
      if (e.target.checked) sel.add(r.id); else sel.delete(r.id);
      cmp.disabled = sel.size !== 2; } }) },
    { key: "task", label: "task", render: r => h("a", { href: "#/run/" + r.id, text: r.task || "?" }) , value: r => r.task },
    { key: "method", label: "method" },
    { key: "scale", label: "scale" },
    { key: "injection", label: "injection" },
    { key: "profile", label: "profile" },
    { key: "plugins", label: "plugins", value: r => (r.plugins || []).join(", "), render: r => (r.plugins || []).join(", ") || "–" },
    { key: "episodes", label: "episodes", num: true },
    { key: "throughput", label: "throughput [95% CI]", num: true, value: r => metric(r, "throughput"), render: r => ci(r.metrics.throughput) },
    { key: "on_time_rate", label: "on-time", num: true, value: r => metric(r, "on_time_rate"), render: r => ci(r.metrics.on_time_rate) },
    { key: "turnaround_p95_s", label: "TAT p95 s", num: true, value: r => metric(r, "turnaround_p95_s"), render: r => ci(r.metrics.turnaround_p95_s) },
    { key: "violations_total", label: "violations", num: true, value: r => metric(r, "violations_total"), render: r => ci(r.metrics.violations_total) },
    { key: "blocked", label: "blocked", num: true, value: r => metric(r, "blocked"), render: r => ci(r.metrics.blocked) },
    { key: "rel", label: "file", render: r => h("span", { class: "muted", text: r.rel }) },
  ];
  function draw() {
    const q = filter.value.trim().toLowerCase();
    const rows = runs.filter(r => !q || [r.task, r.method, r.profile, r.injection, r.scale, r.rel, ...(r.plugins || [])]
      .some(x => x && String(x).toLowerCase().includes(q)));
    holder.textContent = "";
    holder.appendChild(sortableTable(cols, rows, { cls: "runs", rowAttrs: r => ({ "data-id": r.id }) }));
    setStatus(rows.length + " of " + runs.length + " runs");
  }
  filter.addEventListener("input", draw);
  draw();
  return [h("h2", { text: "Runs" }), h("div", { class: "toolbar" }, filter, cmp), holder];
}

async function viewRun(id) {
  const d = await api("/api/runs/" + id);
  const head = d.header;
  const rows = Object.entries(d.summary).map(([k, v]) => ({ metric: k, v }));
  const eps = d.episodes.map(e => ({ ...e }));
  const epCols = [
    { key: "episode", label: "episode", num: true },
    { key: "seed", label: "seed", num: true },
    { key: "log", label: "timeline", render: e => e.episode_id ? h("a", { href: "#/episode/" + e.episode_id, text: "open episode" }) : h("span", { class: "muted", text: "no log" }) },
    ...["throughput", "on_time_rate", "turnaround_p95_s", "violations_total", "blocked", "actions"].map(k => (
      { key: k, label: k, num: true, value: e => e.metrics[k] })),
  ];
  return [
    h("h2", { text: "Run: " + (head.task || "?") + " / " + (d.meta.method || "?") }),
    h("p", { class: "muted", text: d.rel + " · seed " + head.seed + " · policy " + String(head.policy_fingerprint).slice(0, 12) + "…" +
      (head.lab_profile ? " · profile " + head.lab_profile : "") + (d.meta.cell_id ? " · study cell " + d.meta.cell_id : "") }),
    h("h3", { text: "Summary (mean, Student-t 95% CI over episodes)" }),
    sortableTable([
      { key: "metric", label: "metric" },
      { key: "mean", label: "mean [95% CI]", num: true, value: r => r.v.mean, render: r => ci(r.v) },
    ], rows, { cls: "summary" }),
    h("h3", { text: "Episodes" }),
    sortableTable(epCols, eps, { cls: "episodes" }),
  ];
}

async function viewCompare(a, b) {
  const d = await api("/api/compare/" + a + "/" + b);
  const label = x => (x.header.task || "?") + " / " + (x.header.coord_method || x.header.controller || "?") + " (" + x.rel + ")";
  return [
    h("h2", { text: "Compare runs" }),
    h("p", {}, h("b", { text: "A: " }), h("a", { href: "#/run/" + d.a.id, text: label(d.a) }), h("br"),
      h("b", { text: "B: " }), h("a", { href: "#/run/" + d.b.id, text: label(d.b) })),
    sortableTable([
      { key: "metric", label: "metric" },
      { key: "a", label: "A [95% CI]", num: true, value: r => r.a && r.a.mean, render: r => ci(r.a) },
      { key: "b", label: "B [95% CI]", num: true, value: r => r.b && r.b.mean, render: r => ci(r.b) },
      { key: "delta", label: "B − A", num: true },
    ], d.metrics, { cls: "compare" }),
  ];
}

// ---------------------------------------------------------------- episode
const DEV_COLORS = { IDLE: "#dfe6ee", RUNNING: "#4a90d9", FAULT: "#d9534f", MAINT: "#f0ad4e" };

function layoutZones(map) {
  // columns by graph distance from each site's first zone, rows in order of appearance
  const pos = {};
  const adj = {};
  for (const e of map.edges) { (adj[e.a] = adj[e.a] || []).push(e.b); (adj[e.b] = adj[e.b] || []).push(e.a); }
  const sites = [];
  for (const z of map.zones) if (!sites.includes(z.site_id)) sites.push(z.site_id);
  let y0 = 0;
  for (const site of sites) {
    const zs = map.zones.filter(z => z.site_id === site).map(z => z.zone_id);
    const dist = {}; const q = [zs[0]]; dist[zs[0]] = 0;
    while (q.length) { const z = q.shift(); for (const n of adj[z] || []) if (dist[n] === undefined && zs.includes(n)) { dist[n] = dist[z] + 1; q.push(n); } }
    const byDist = {};
    for (const z of zs) { const c = dist[z] === undefined ? 0 : dist[z]; (byDist[c] = byDist[c] || []).push(z); }
    // at most three zones a column: a hub's many neighbours wrap into further columns
    let rows = 0, col = 0;
    for (const c of Object.keys(byDist).map(Number).sort((a, b) => a - b)) {
      const list = byDist[c];
      list.forEach((z, i) => { pos[z] = { col: col + Math.floor(i / 3), row: y0 + (i % 3) }; });
      col += Math.ceil(list.length / 3);
      rows = Math.max(rows, Math.min(3, list.length));
    }
    y0 += rows;
  }
  return pos;
}

function labMapSvg(map, states, step) {
  const W = 170, H = 92, GX = 60, GY = 26, M = 14;
  const pos = layoutZones(map);
  const cols = Math.max(...Object.values(pos).map(p => p.col)) + 1;
  const rows = Math.max(...Object.values(pos).map(p => p.row)) + 1;
  const svg = s("svg", { width: M * 2 + cols * (W + GX), height: M * 2 + rows * (H + GY), id: "labmap" });
  const xy = z => ({ x: M + pos[z].col * (W + GX), y: M + pos[z].row * (H + GY) });
  const doorOpen = d => states && states.doors && states.doors[d] ? states.doors[d][step] === 1 : false;
  for (const e of map.edges) {
    if (!pos[e.a] || !pos[e.b]) continue;
    const a = xy(e.a), b = xy(e.b);
    const x1 = a.x + W / 2, y1 = a.y + H / 2, x2 = b.x + W / 2, y2 = b.y + H / 2;
    svg.appendChild(s("line", { x1, y1, x2, y2, stroke: "#9aa5b1", "stroke-width": 3 }));
    if (e.door_id) {
      const open = doorOpen(e.door_id);
      svg.appendChild(s("rect", { x: (x1 + x2) / 2 - 7, y: (y1 + y2) / 2 - 7, width: 14, height: 14,
        fill: open ? "#fff" : "#6b4f2a", stroke: "#6b4f2a", "stroke-width": 2, class: "door", "data-door": e.door_id },
        title(e.door_id + (open ? " (open)" : " (closed)"))));
    }
  }
  const agentsAt = {};
  if (states && states.agents) {
    for (const [a, arr] of Object.entries(states.agents)) {
      const z = arr[step]; if (z === undefined) continue;
      const at = z.includes(">") ? z.split(">")[0] : z;
      (agentsAt[at] = agentsAt[at] || []).push({ id: a, transit: z.includes(">") ? z : null });
    }
  }
  for (const z of map.zones) {
    const p = xy(z.zone_id);
    const g = s("g", { class: "zone", "data-zone": z.zone_id });
    g.appendChild(s("rect", { x: p.x, y: p.y, width: W, height: H, rx: 6, fill: z.kind === "restricted" ? "#fbeaea" : "#eef3f8", stroke: "#7d8fa3" }, title(z.name || z.zone_id)));
    g.appendChild(s("text", { x: p.x + 6, y: p.y + 14, "font-weight": 600, text: z.zone_id }));
    const devs = map.devices.filter(d => d.zone_id === z.zone_id);
    devs.forEach((d, i) => {
      const st = states && states.devices && states.devices[d.device_id] ? states.devices[d.device_id] : null;
      const state = st ? st.state[step] : null, q = st ? st.queue[step] : null;
      g.appendChild(s("rect", { x: p.x + 6 + i * 24, y: p.y + 22, width: 20, height: 14, fill: DEV_COLORS[state] || "#fff", stroke: "#555", class: "device", "data-device": d.device_id },
        title(d.device_id + (state ? ": " + state + ", queue " + q : ""))));
      if (q) g.appendChild(s("text", { x: p.x + 9 + i * 24, y: p.y + 47, text: String(q) }));
    });
    (agentsAt[z.zone_id] || []).forEach((a, i) => {
      g.appendChild(s("circle", { cx: p.x + 12 + (i % 10) * 15, cy: p.y + 62 + Math.floor(i / 10) * 14, r: 5.5,
        fill: a.transit ? "#fff" : "#2e7d32", stroke: "#2e7d32", "stroke-width": 2, class: "agent", "data-agent": a.id },
        title(a.id + (a.transit ? " in transit " + a.transit : ""))));
    });
    svg.appendChild(g);
  }
  return svg;
}

function agentTimeline(d) {
  const steps = Math.max(1, d.steps);
  const LW = 150, RH = 16, W = Math.min(1400, Math.max(600, steps * 3));
  const sx = x => LW + (x / steps) * (W - LW - 10);
  const svg = s("svg", { width: W, height: d.agents.length * RH + 24, id: "timeline" });
  d.agents.forEach((a, i) => {
    svg.appendChild(s("text", { x: 4, y: 14 + i * RH + 10, text: a.agent_id }));
    svg.appendChild(s("line", { x1: LW, x2: W - 10, y1: 14 + i * RH + 7, y2: 14 + i * RH + 7, stroke: "#eee" }));
  });
  for (const t of [0, 0.25, 0.5, 0.75, 1]) {
    const st = Math.round(t * steps);
    svg.appendChild(s("text", { x: sx(st) - 6, y: 10, fill: "#888", text: "" + st }));
  }
  for (const r of d.actions) {
    const [step, ai, act, status, code, seq, args] = r;
    const blocked = status === "BLOCKED";
    const mark = s("rect", { x: sx(step) - 1, y: 14 + ai * RH + 1, width: blocked ? 4 : 2.5, height: RH - 3,
      fill: blocked ? "#d32f2f" : "#5c7ea3", class: blocked ? "act blocked" : "act", "data-seq": seq,
      onmouseover: () => showInfo("step " + step + " · " + d.agents[ai].agent_id + "\n" + act + " " + (args || "") + "\n" + status + (code ? " (" + code + ")" : "")) },
      title("step " + step + ": " + act + " " + status + (code ? " " + code : "")));
    svg.appendChild(mark);
  }
  return svg;
}

function deviceChart(states) {
  const ids = Object.keys(states.devices || {});
  const steps = states.steps || 1;
  const LW = 150, RH = 22, W = Math.min(1400, Math.max(600, steps * 3));
  const sx = x => LW + (x / steps) * (W - LW - 10);
  const svg = s("svg", { width: W, height: ids.length * RH + 10, id: "devices" });
  ids.forEach((id, i) => {
    const dv = states.devices[id];
    const y = 5 + i * RH;
    svg.appendChild(s("text", { x: 4, y: y + 14, text: id }));
    let start = 0;
    for (let k = 1; k <= steps; k++) {
      if (k === steps || dv.state[k] !== dv.state[start]) {
        svg.appendChild(s("rect", { x: sx(start), y: y + 2, width: Math.max(0.5, sx(k) - sx(start)), height: RH - 6, fill: DEV_COLORS[dv.state[start]] || "#ccc" },
          title(id + ": " + dv.state[start] + " steps " + start + "–" + (k - 1))));
        start = k;
      }
    }
    const qmax = Math.max(1, ...dv.queue);
    const pts = dv.queue.map((q, k) => sx(k) + "," + (y + RH - 4 - (q / qmax) * (RH - 8))).join(" ");
    svg.appendChild(s("polyline", { points: pts, fill: "none", stroke: "#222", "stroke-width": 1, class: "queue" },
      title(id + " queue (max " + qmax + ")")));
  });
  return svg;
}

async function viewEpisode(id) {
  const [d, map] = await Promise.all([api("/api/episodes/" + id), api("/api/labmap")]);
  const out = [];
  out.push(h("h2", { text: "Episode: " + d.header.task + " · seed " + d.header.seed }));
  out.push(h("p", { class: "muted" }, d.rel + " · " + d.steps + " steps of " + d.header.dt_s + " s · chain ",
    h("span", { class: d.chain_ok ? "pass" : "fail", text: d.chain_ok ? "intact" : "BROKEN: " + d.chain_summary }),
    d.run ? h("span", {}, " · ", h("a", { href: "#/run/" + d.run, text: "run" })) : null));
  const nb = d.actions.filter(a => a[3] === "BLOCKED").length;
  out.push(h("h3", { text: "Actions per agent (" + d.actions.length + ", " + nb + " blocked)" }));
  out.push(h("p", { class: "legend" }, h("span", {}, h("span", { class: "swatch sw-ok" }), "accepted"), h("span", {}, h("span", { class: "swatch sw-bad" }), "blocked (hover for the reason code)")));
  out.push(h("div", { class: "scroll" }, agentTimeline(d)));
  const codes = Object.entries(d.blocked_by_reason_code);
  out.push(h("div", { id: "blocked" }, codes.length ? sortableTable([{ key: "code", label: "reason code" }, { key: "n", label: "blocked", num: true }],
    codes.map(([code, n]) => ({ code, n })), { cls: "blocked", sortKey: "n" }) : h("p", { class: "muted", text: "No blocked actions." })));
  const blockedRows = d.actions.filter(a => a[3] === "BLOCKED").slice(0, 200).map(a => ({ step: a[0], agent: d.agents[a[1]].agent_id, action: a[2], code: a[4], args: a[6] }));
  if (blockedRows.length) out.push(h("div", { class: "events" }, sortableTable([{ key: "step", label: "step", num: true }, { key: "agent", label: "agent" }, { key: "action", label: "action" },
    { key: "code", label: "reason code", render: r => h("span", { class: "badge bad", text: r.code }) }, { key: "args", label: "args" }], blockedRows, { cls: "blocked-actions" })));

  // lab map at a chosen step, and device states
  const mapBox = h("div", { class: "scroll", id: "mapbox" });
  const devBox = h("div", { class: "scroll", id: "devbox" }, h("p", { class: "muted", text: "Re-running the log through the engine for device and agent states…" }));
  const slider = h("input", { type: "range", min: 0, max: Math.max(0, d.steps - 1), value: 0, id: "step" });
  const stepLabel = h("span", { id: "steplabel", text: "step 0" });
  let states = null;
  function drawMap() {
    const k = +slider.value;
    stepLabel.textContent = "step " + k + " (t = " + fmt((k + 1) * d.header.dt_s) + " s)";
    mapBox.textContent = ""; mapBox.appendChild(labMapSvg(map, states, k));
  }
  slider.addEventListener("input", drawMap);
  out.push(h("h3", { text: "Lab map: zones, doors, devices and agents at a step" }));
  out.push(h("div", { class: "toolbar" }, slider, stepLabel));
  out.push(h("p", { class: "legend" }, ...Object.entries(DEV_COLORS).map(([k, c]) => { const sw = h("span", { class: "swatch" }); sw.style.background = c; return h("span", {}, sw, k); }),
    h("span", {}, "● agent (○ in transit), ■ door closed, □ open")));
  out.push(mapBox);
  out.push(h("h3", { text: "Device states and queues over time" }));
  out.push(devBox);
  drawMap();
  api("/api/episodes/" + id + "/states").then(st => {
    states = st; drawMap();
    devBox.textContent = "";
    devBox.appendChild(h("p", { class: st.verified ? "muted" : "fail", text: st.verified ? "States from a re-run of the logged events, checked against the footer's audit head." : "States unavailable or unverified: " + st.reason }));
    if (Object.keys(st.devices).length) devBox.appendChild(deviceChart(st));
  }).catch(e => { devBox.textContent = "states: " + e.message; });

  // critical results
  out.push(h("h3", { text: "Critical-result escalations (" + d.criticals.length + ")" }));
  out.push(d.criticals.length ? sortableTable([
    { key: "step", label: "step", num: true }, { key: "t_s", label: "t s", num: true }, { key: "agent_id", label: "agent" },
    { key: "action", label: "action" }, { key: "result_id", label: "result" }, { key: "status", label: "status" },
    { key: "emits", label: "emits", render: r => r.emits.join(", ") }], d.criticals, { cls: "criticals" }) : h("p", { class: "muted", text: "No critical results." }));

  // specimen journey
  const sp = h("select", { id: "specimen" }, ...d.specimens.map(x => h("option", { value: x.specimen_id, text: x.specimen_id + " (" + x.priority + ")" })));
  const journey = h("div", { id: "journey" });
  function drawJourney() {
    const x = d.specimens.find(v => v.specimen_id === sp.value);
    journey.textContent = "";
    if (!x) return;
    journey.appendChild(h("p", {}, "Arrived t = " + fmt(x.arrival_t) + " s · panels " + (x.panels || []).join(", ") + " · ",
      x.released_t !== null ? h("span", { class: "pass", text: "released t = " + fmt(x.released_t) + " s (TAT " + fmt(x.released_t - x.arrival_t) + " s)" }) : h("span", { class: "fail", text: "not released" })));
    const rows = [{ step: null, t_s: x.arrival_t, agent_id: "", action: "ARRIVAL", status: "", reason_code: null, args: "" }, ...x.journey];
    journey.appendChild(sortableTable([{ key: "t_s", label: "t s", num: true }, { key: "step", label: "step", num: true }, { key: "agent_id", label: "agent" },
      { key: "action", label: "action" }, { key: "status", label: "status", render: r => r.status === "BLOCKED" ? h("span", { class: "badge bad", text: "BLOCKED " + r.reason_code }) : (r.status || "") },
      { key: "args", label: "args" }], rows, { cls: "journey" }));
  }
  sp.addEventListener("change", drawJourney);
  out.push(h("h3", { text: "Specimen journey (arrival to release)" }), h("div", { class: "toolbar" }, sp), journey);
  drawJourney();
  return out;
}

// ---------------------------------------------------------------- studies
function heatColor(v) {
  if (v === null || v === undefined) return "#eee";
  const t = Math.max(0, Math.min(1, (v - 0.5) * 2));  // 0.5 or less: red, 1 or more: green
  const r = Math.round(215 - 150 * t), g = Math.round(80 + 110 * t), b = Math.round(70 + 40 * t);
  return "rgb(" + r + "," + g + "," + b + ")";
}

function cellInfo(c, method, inj) {
  return method + " × " + inj + "\ncell " + c.cell_id + "\nresilience " + fmt(c.resilience) + " · throughput " + fmt(c.throughput) +
    (c.effect ? "\ninjection effect: " + c.effect + " (" + c.changed + " changed)" : "") + (c.status !== "ok" ? "\nstatus " + c.status : "");
}

function heatmapSvg(g) {
  const CW = 118, CH = 30, LW = 150, TH = 70;
  const svg = s("svg", { width: LW + g.injections.length * CW + 10, height: TH + g.methods.length * CH + 10, class: "heatmap" });
  g.injections.forEach((inj, j) => svg.appendChild(s("text", { x: LW + j * CW + 4, y: TH - 8, transform: "rotate(-18 " + (LW + j * CW + 4) + " " + (TH - 8) + ")", text: inj })));
  g.methods.forEach((m, i) => {
    svg.appendChild(s("text", { x: 4, y: TH + i * CH + 19, text: m }));
    g.injections.forEach((inj, j) => {
      const c = g.heatmap[i][j];
      if (!c) return;
      const x = LW + j * CW, y = TH + i * CH;
      const noEffect = c.effect === "no";
      const cell = s("g", { class: "hcell" + (noEffect ? " noeffect" : ""), "data-cell": c.cell_id, cursor: c.run_id ? "pointer" : "default",
        onmouseover: () => showInfo(cellInfo(c, m, inj)),
        onclick: () => { if (c.run_id) location.hash = "#/run/" + c.run_id; } });
      cell.appendChild(s("rect", { x, y, width: CW - 2, height: CH - 2, fill: heatColor(c.resilience), stroke: noEffect ? "#333" : "#fff", "stroke-dasharray": noEffect ? "4 2" : null }, title(cellInfo(c, m, inj))));
      cell.appendChild(s("text", { x: x + 6, y: y + 18, text: fmt(c.resilience) + (noEffect ? "  no effect" : "") }));
      svg.appendChild(cell);
    });
  });
  return svg;
}

function paretoSvg(g, costKey) {
  const pts = g.leaderboard.filter(r => r.throughput_mean !== null && r[costKey] !== null);
  const W = 460, H = 300, M = 46;
  const svg = s("svg", { width: W, height: H, class: "pareto", "data-cost": costKey });
  if (!pts.length) return svg;
  const xs = pts.map(p => p[costKey]), ys = pts.map(p => p.throughput_mean);
  const pad = (lo, hi) => { const r = (hi - lo) || Math.abs(hi) || 1; return [lo - 0.12 * r, hi + 0.12 * r]; };
  const [x0, x1] = pad(Math.min(...xs), Math.max(...xs)), [y0, y1] = pad(Math.min(...ys), Math.max(...ys));
  const sx = v => M + ((v - x0) / ((x1 - x0) || 1)) * (W - 2 * M);
  const sy = v => H - M - ((v - y0) / ((y1 - y0) || 1)) * (H - 2 * M);
  svg.appendChild(s("line", { x1: M, y1: H - M, x2: W - M / 2, y2: H - M, stroke: "#888" }));
  svg.appendChild(s("line", { x1: M, y1: M / 2, x2: M, y2: H - M, stroke: "#888" }));
  svg.appendChild(s("text", { x: W / 2 - 40, y: H - 10, text: costKey + " (lower is better)" }));
  svg.appendChild(s("text", { x: 4, y: 14, text: "throughput" }));
  svg.appendChild(s("text", { x: M - 4, y: H - M + 14, text: fmt(x0) })); svg.appendChild(s("text", { x: W - M, y: H - M + 14, text: fmt(x1) }));
  svg.appendChild(s("text", { x: 4, y: H - M, text: fmt(y0) })); svg.appendChild(s("text", { x: 4, y: M, text: fmt(y1) }));
  const front = costKey === "violations" ? g.frontier_violations : g.frontier_blocked;
  const fpts = pts.filter(p => front.includes(p.method)).sort((a, b) => a[costKey] - b[costKey]);
  if (fpts.length > 1) svg.appendChild(s("polyline", { points: fpts.map(p => sx(p[costKey]) + "," + sy(p.throughput_mean)).join(" "), fill: "none", stroke: "#2e7d32", "stroke-dasharray": "5 3" }));
  // CI whiskers first (under every point), clipped to the plot area
  const clampY = v => Math.max(M / 2, Math.min(H - M, sy(v)));
  for (const p of pts) {
    if (p.throughput_ci95_low === null || p.throughput_ci95_low === undefined) continue;
    svg.appendChild(s("line", { x1: sx(p[costKey]), x2: sx(p[costKey]), y1: clampY(p.throughput_ci95_low), y2: clampY(p.throughput_ci95_high), stroke: "#bbb", class: "whisker" }));
  }
  for (const p of pts) {
    const on = front.includes(p.method);
    const text = p.method + "\nthroughput " + fmt(p.throughput_mean) + " [" + fmt(p.throughput_ci95_low) + ", " + fmt(p.throughput_ci95_high) + "]\n" + costKey + " " + fmt(p[costKey]) + (on ? "\non the frontier" : "");
    const g2 = s("g", { class: "point", "data-method": p.method, onmouseover: () => showInfo(text), cursor: "pointer",
      onclick: () => { location.hash = "#/study/" + currentStudy + "/method/" + encodeURIComponent(p.method); } });
    g2.appendChild(s("circle", { cx: sx(p[costKey]), cy: sy(p.throughput_mean), r: 6, fill: on ? "#2e7d32" : "#5c7ea3" }, title(text)));
    const right = sx(p[costKey]) > W - 130;  // labels near the right edge go to the left
    g2.appendChild(s("text", { x: sx(p[costKey]) + (right ? -8 : 8), y: sy(p.throughput_mean) + 4, "text-anchor": right ? "end" : "start", text: p.method }));
    svg.appendChild(g2);
  }
  return svg;
}

let currentStudy = null;
async function viewStudy(id, method) {
  currentStudy = id;
  const d = await api("/api/studies/" + id);
  const out = [h("h2", { text: "Study: " + (d.study_id || d.rel) }),
    h("p", { class: "muted", text: d.rel + " · " + d.cells.length + " cells · status " + d.status })];
  if (d.no_effect.length) out.push(h("p", { id: "noeffect" }, h("span", { class: "badge warn", text: d.no_effect.length + " injected cells without observable effect" }),
    " — dashed in the heat map; their resilience of 1.0 means nothing."));
  for (const g of d.groups) {
    out.push(h("h3", { text: g.task + " / " + g.scale }));
    out.push(sortableTable([
      { key: "rank", label: "rank", num: true },
      { key: "method", label: "method", render: r => h("a", { href: "#/study/" + id + "/method/" + encodeURIComponent(r.method), text: r.method }), value: r => r.method },
      { key: "throughput_mean", label: "throughput [95% CI]", num: true, render: r => ci({ mean: r.throughput_mean, ci95_low: r.throughput_ci95_low, ci95_high: r.throughput_ci95_high, n: r.episodes }) },
      { key: "nominal_throughput_mean", label: "nominal [95% CI]", num: true, render: r => ci({ mean: r.nominal_throughput_mean, ci95_low: r.nominal_ci95_low, ci95_high: r.nominal_ci95_high }) },
      { key: "on_time_rate", label: "on-time", num: true }, { key: "violations", label: "violations", num: true }, { key: "blocked", label: "blocked", num: true },
      { key: "resilience_mean", label: "resilience", num: true }, { key: "worst_injection", label: "worst injection" }, { key: "episodes", label: "episodes", num: true },
    ], g.leaderboard, { cls: "leaderboard", sortKey: "rank" }));
    out.push(h("div", { class: "grid2" },
      h("div", {}, h("b", { text: "Pareto: throughput vs violations" }), h("br"), paretoSvg(g, "violations")),
      h("div", {}, h("b", { text: "Pareto: throughput vs blocked" }), h("br"), paretoSvg(g, "blocked"))));
    out.push(h("b", { text: "Resilience heat map (hover: the cell; click: its results)" }));
    out.push(h("div", { class: "scroll" }, heatmapSvg(g)));
  }
  if (method) {
    const mine = d.cells.filter(c => c.method === method);
    out.unshift(h("div", { id: "method-cells" }, h("h3", { text: "Cells of " + method }), sortableTable([
      { key: "cell_id", label: "cell", render: c => c.run_id ? h("a", { href: "#/run/" + c.run_id, text: c.cell_id }) : c.cell_id },
      { key: "throughput_mean", label: "throughput [95% CI]", num: true, render: c => ci({ mean: c.throughput_mean, ci95_low: c.throughput_ci95_low, ci95_high: c.throughput_ci95_high }) },
      { key: "resilience_score", label: "resilience", num: true }, { key: "injection_effect", label: "effect" }], mine, {})));
  }
  return out;
}

// ---------------------------------------------------------------- evidence
async function viewBundle(id) {
  const d = await api("/api/bundles/" + id);
  const n = { pass: 0, fail: 0, skip: 0 };
  for (const c of d.checks) n[c.skipped ? "skip" : c.ok ? "pass" : "fail"]++;
  return [h("h2", { text: "Evidence bundle: " + d.rel }),
    h("p", {}, h("span", { id: "verdict", class: d.ok ? "pass" : "fail", text: d.ok ? "VERIFIED" : "FAILED" }),
      " · " + n.pass + " pass, " + n.fail + " fail, " + n.skip + " skip (verify-bundle's checks)"),
    sortableTable([
      { key: "result", label: "result", value: c => c.skipped ? "SKIP" : c.ok ? "PASS" : "FAIL", render: c => h("span", { class: c.skipped ? "skip" : c.ok ? "pass" : "fail", text: c.skipped ? "SKIP" : c.ok ? "PASS" : "FAIL" }) },
      { key: "name", label: "check" }, { key: "detail", label: "detail" }], d.checks, { cls: "checks" })];
}

// ---------------------------------------------------------------- improvement runs
function diffPre(text) {
  const pre = h("pre", { class: "diff" });
  for (const line of (text || "(no diff)").split("\n")) {
    const cls = line.startsWith("+") && !line.startsWith("+++") ? "add" : line.startsWith("-") && !line.startsWith("---") ? "del" : "";
    pre.appendChild(h("span", { class: cls, text: line + "\n" }));
  }
  return pre;
}

function lineageSvg(d) {
  // one row per candidate in cycle order, an edge from each to its parent
  const cands = d.candidates;
  const RH = 26, W = 640;
  const svg = s("svg", { width: W, height: cands.length * RH + 12, id: "lineage" });
  const row = {};
  cands.forEach((c, i) => { row[c.hash] = i; });
  cands.forEach((c, i) => {
    if (c.parent && row[c.parent] !== undefined) {
      const j = row[c.parent];
      svg.appendChild(s("path", { d: "M 30 " + (12 + j * RH) + " C 6 " + (12 + j * RH) + ", 6 " + (12 + i * RH) + ", 30 " + (12 + i * RH), fill: "none", stroke: c.in_lineage ? "#2e7d32" : "#aaa", "stroke-width": c.in_lineage ? 2.5 : 1 }));
    }
  });
  cands.forEach((c, i) => {
    const champ = c.hash === d.champion;
    const g = s("g", { class: "cand", "data-hash": c.hash, onmouseover: () => showInfo(c.hash + " (" + c.kind + ", cycle " + c.cycle + ")\nstatus " + c.status + "\nparent " + (c.parent || "–") + "\nselection score " + fmt(c.selection_score)) });
    g.appendChild(s("circle", { cx: 30, cy: 12 + i * RH, r: champ ? 8 : 6, fill: champ ? "#2e7d32" : c.status === "rolled_back" || c.status === "rejected" ? "#d32f2f" : "#5c7ea3" }));
    g.appendChild(s("text", { x: 46, y: 16 + i * RH, text: "c" + c.cycle + "  " + c.hash + "  " + c.status + (champ ? "  ★ champion" : "") + "  score " + fmt(c.selection_score) }));
    svg.appendChild(g);
  });
  return svg;
}

function eventRow(e, fresh) {
  const p = e.payload || {};
  const brief = Object.entries(p).slice(0, 4).map(([k, v]) => k + "=" + (typeof v === "object" ? JSON.stringify(v) : v)).join(" ").slice(0, 160);
  return h("tr", { class: fresh ? "new" : "", "data-seq": e.seq }, h("td", { class: "num", text: e.seq }), h("td", { text: (e.ts || "").slice(11, 23) }),
    h("td", { text: e.cycle }), h("td", { text: e.stage }), h("td", {}, h("span", { class: /denied|failed|vetoed|repaired/.test(e.kind) ? "badge bad" : /approval/.test(e.kind) ? "badge warn" : "badge", text: e.kind })), h("td", { text: brief }));
}

function improveHead(d, id) {
  const out = [h("h2", { text: "Improvement run: " + d.run_id }),
    h("p", { class: "muted" }, d.rel + " · status ", h("span", { id: "run-status", class: "badge" + (d.run && d.run.status === "awaiting_approval" ? " warn" : ""), text: d.run ? d.run.status : "?" }),
      " · rung " + (d.run ? d.run.rung : "?") + " · champion " + (d.champion || "–") + " · constitution " + d.constitution.version + " (" + String(d.constitution.hash).slice(0, 12) + "…)")];
  // approvals
  const apBox = h("div", { id: "approvals" });
  if (d.pending_approvals.length) {
    for (const p of d.pending_approvals) {
      const msg = h("span", { class: "muted" });
      const btn = d.allow_approve ? h("button", { class: "approve", "data-subject": p.subject, text: "Approve " + p.subject, onclick: async () => {
        btn.disabled = true;
        try { await api("/api/improve/" + id + "/approve", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ subject: p.subject, approver: "dashboard" }) }); msg.textContent = " approved; resume the run with: labtrust improve resume " + d.rel; }
        catch (e) { msg.textContent = " " + e.message; btn.disabled = false; }
      } }) : h("span", { class: "muted", text: "(read-only: start the dashboard with --allow-approve to approve here, or run labtrust improve approve)" });
      apBox.appendChild(h("p", {}, h("span", { class: "badge warn", text: "awaiting approval" }), " cycle " + p.cycle + ": " + p.decision + " of " + p.subject + " — " + (p.reason || "") + " ", btn, msg));
    }
  } else apBox.appendChild(h("p", { class: "muted", text: "No decision awaits approval." }));
  out.push(h("h3", { text: "Approvals pending (" + d.pending_approvals.length + ")" }), apBox);
  if (d.approvals.length) out.push(sortableTable([{ key: "cycle", label: "cycle", num: true }, { key: "candidate", label: "approved" }, { key: "approver", label: "approver" }, { key: "note", label: "note" }, { key: "ts", label: "when" }], d.approvals, { cls: "approvals-given" }));
  return out;
}

function improveDetail(d) {
  const out = [];
  // cycles and decisions
  out.push(h("h3", { text: "Cycles and decisions (" + d.cycles.length + ")" }), sortableTable([
    { key: "cycle", label: "cycle", num: true }, { key: "rung", label: "rung" }, { key: "status", label: "status" },
    { key: "champion_before", label: "champion before" }, { key: "candidate", label: "candidate" },
    { key: "decision", label: "decision", render: c => h("span", { class: "badge" + (c.decision === "promote" ? " good" : c.decision === "rollback" ? " bad" : ""), text: c.decision || "–" }) },
    { key: "decision_reason", label: "reason" }], d.cycles, { cls: "cycles", sortKey: "cycle" }));
  // lineage
  out.push(h("h3", { text: "Champion lineage and candidates (hover: details; each diff is against its parent)" }), lineageSvg(d));
  for (const c of d.candidates.filter(c => c.kind !== "seed")) {
    out.push(h("details", { class: "cand-diff", "data-hash": c.hash }, h("summary", { text: "cycle " + c.cycle + ": " + c.hash + " vs parent " + c.parent + " (" + c.status + ")" }), diffPre(c.diff)));
  }
  // gates
  out.push(h("h3", { text: "Gate results: paired deltas (candidate − champion) and vetoes" }), sortableTable([
    { key: "cycle", label: "cycle", num: true }, { key: "action", label: "gate", render: g => h("span", { class: "badge" + (g.action === "vetoed" ? " bad" : g.action.startsWith("accept") ? " good" : ""), text: g.action }) },
    { key: "mean_delta", label: "mean Δ [95% CI]", num: true, render: g => ci({ mean: g.mean_delta, ci95_low: g.ci95_low, ci95_high: g.ci95_high, n: g.episodes }) },
    { key: "per_task", label: "per-task Δ", render: g => h("span", {}, ...Object.entries(g.per_task).map(([t, v]) => h("span", { class: "badge" + (v < 0 ? " bad" : v > 0 ? " good" : ""), text: t + " " + (v > 0 ? "+" : "") + fmt(v) }))) },
    { key: "vetoes", label: "vetoes", render: g => g.vetoes.length ? h("span", { class: "vetoes" }, ...g.vetoes.map(v => h("div", { class: "badge bad", text: v.episode + ": " + JSON.stringify(v.new) }))) : "–" },
    { key: "reason", label: "reason" }], d.gates, { cls: "gates", sortKey: "cycle" }));
  // proposals
  out.push(h("h3", { text: "Proposals" }), sortableTable([
    { key: "cycle", label: "cycle", num: true }, { key: "source", label: "source" }, { key: "name", label: "name", value: p => p.proposal.name },
    { key: "status", label: "status", render: p => h("span", { class: "badge" + (p.status === "rejected" ? " bad" : ""), text: p.status }) },
    { key: "rule", label: "rule" }, { key: "reason", label: "reason / rationale", value: p => p.reason || p.proposal.rationale }], d.proposals, { cls: "proposals" }));
  // budget
  out.push(h("h3", { text: "Budget use (constitution limits)" }), sortableTable([
    { key: "budget", label: "budget" }, { key: "used", label: "used", num: true }, { key: "limit", label: "limit", num: true },
    { key: "share", label: "share", value: b => b.limit ? b.used / b.limit : null, render: b => {
      if (!b.limit || b.used === null) return "–";
      const w = Math.min(1, b.used / b.limit);
      return s("svg", { width: 120, height: 12 }, s("rect", { x: 0, y: 0, width: 120, height: 12, fill: "#eee" }), s("rect", { x: 0, y: 0, width: 120 * w, height: 12, fill: w > 0.9 ? "#d32f2f" : "#5c7ea3" }));
    } }, { key: "source", label: "counted from" }], d.budget, { cls: "budget" }));
  return out;
}

async function viewImprove(id) {
  const head = h("div", { id: "improve-head" }), detail = h("div", { id: "improve-detail" });
  async function refresh() {
    const d = await api("/api/improve/" + id);
    head.textContent = ""; for (const n of improveHead(d, id)) head.appendChild(n);
    detail.textContent = ""; for (const n of improveDetail(d)) detail.appendChild(n);
  }
  await refresh();
  const out = [head];
  // live events
  const tbody = h("tbody");
  const evInfo = h("span", { id: "event-count", class: "muted" });
  out.push(h("h3", { text: "Event stream (live, polled with the seq cursor)" }), h("p", {}, evInfo),
    h("div", { class: "events" }, h("table", { class: "events-table" }, h("thead", {}, h("tr", {}, ...["seq", "time", "cycle", "stage", "kind", "payload"].map(t => h("th", { text: t })))), tbody)));
  let cursor = -1, first = true, busy = false;
  async function poll() {
    if (busy) return; busy = true;
    try {
      const r = await api("/api/improve/" + id + "/events?after=" + cursor);
      for (const e of r.events) tbody.appendChild(eventRow(e, !first));
      // a stage or the run changed state: redraw cycles, lineage, gates, approvals, budget
      if (!first && r.events.some(e => /stage_done|^run_|approval/.test(e.kind))) refresh().catch(() => {});
      if (r.events.length) { cursor = r.next; const box = tbody.closest(".events"); box.scrollTop = box.scrollHeight; }
      evInfo.textContent = r.total + " events · chain " + (r.chain_ok ? "intact" : "BROKEN: " + r.problems.join("; "));
      evInfo.className = r.chain_ok ? "muted" : "fail";
      first = false;
    } catch (e) { evInfo.textContent = "events: " + e.message; }
    busy = false;
  }
  await poll();
  timers.push(setInterval(poll, 1000));
  out.push(detail);
  return out;
}

// ---------------------------------------------------------------- knowledge
async function viewKnowledge(id) {
  const d = await api("/api/knowledge/" + id);
  const fm = d.front_matter;
  const prov = Array.isArray(fm.provenance) ? fm.provenance : [];
  return [h("h2", { text: "Knowledge: " + fm.name }),
    h("p", {}, h("span", { class: "badge", text: fm.type }), " ", h("span", { id: "page-status", class: "badge" + (fm.status === "human-confirmed" ? " good" : fm.status === "replicated" ? " good" : " warn"), text: fm.status }), h("span", { class: "muted", text: " " + d.rel })),
    h("h3", { text: "Provenance (" + prov.length + ")" }),
    sortableTable([{ key: "run", label: "run" }, { key: "cycle", label: "cycle", num: true }, { key: "source", label: "source" }], prov, { cls: "provenance" }),
    h("h3", { text: "Page" }), h("pre", { class: "diff", id: "page-body", text: d.body })];
}

// ---------------------------------------------------------------- lists
function listView(kind, heading, href, cols) {
  const items = (INDEX.entries[kind] || []);
  if (!items.length) return [h("h2", { text: heading }), h("p", { class: "muted", text: "Nothing of this kind under the root." })];
  return [h("h2", { text: heading }), sortableTable([
    { key: "rel", label: "path", render: e => h("a", { href: href + e.id, text: e.rel }) },
    ...cols.map(c => ({ key: c, label: c, value: e => e.meta[c], render: e => fmt(e.meta[c]) })),
  ], items, { cls: kind + "-list" })];
}

// ---------------------------------------------------------------- router
const ROUTES = [
  [/^#?\/?$/, () => viewRuns()],
  [/^#\/runs$/, () => viewRuns()],
  [/^#\/run\/([\w-]+)$/, m => viewRun(m[1])],
  [/^#\/compare\/([\w-]+)\/([\w-]+)$/, m => viewCompare(m[1], m[2])],
  [/^#\/episode\/([\w-]+)$/, m => viewEpisode(m[1])],
  [/^#\/studies$/, () => listView("study", "Studies", "#/study/", ["study_id", "status", "cells"])],
  [/^#\/study\/([\w-]+)$/, m => viewStudy(m[1])],
  [/^#\/study\/([\w-]+)\/method\/(.+)$/, m => viewStudy(m[1], decodeURIComponent(m[2]))],
  [/^#\/bundles$/, () => listView("bundle", "Evidence bundles", "#/bundle/", ["runs", "package_version"])],
  [/^#\/bundle\/([\w-]+)$/, m => viewBundle(m[1])],
  [/^#\/improve$/, () => listView("improve", "Improvement runs", "#/improve/", ["run_id", "name", "cycles"])],
  [/^#\/improve\/([\w-]+)$/, m => viewImprove(m[1])],
  [/^#\/knowledge$/, () => listView("knowledge", "Knowledge pages", "#/knowledge/", ["name", "type", "status", "observations"])],
  [/^#\/knowledge\/([\w-]+)$/, m => viewKnowledge(m[1])],
];

async function route() {
  for (const t of timers) clearInterval(t);
  timers = [];
  showInfo("");
  setStatus("");
  const hash = location.hash || "#/runs";
  const section = { run: "runs", runs: "runs", compare: "runs", episode: "runs", study: "studies", studies: "studies",
    bundle: "bundles", bundles: "bundles", improve: "improve", knowledge: "knowledge" }[hash.split("/")[1]] || "runs";
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.getAttribute("href") === "#/" + section);
  const main = $main();
  main.removeAttribute("data-view");  // set again once the new view is drawn
  try {
    INDEX = await api("/api/index");
    for (const [re, fn] of ROUTES) {
      const m = hash.match(re);
      if (m) {
        performance.mark("view-start");
        const nodes = await fn(m);
        performance.mark("view-built");
        main.textContent = "";
        for (const n of [].concat(nodes)) if (n) main.appendChild(n);
        main.setAttribute("data-view", hash.split("/")[1] || "runs");
        performance.mark("view-drawn");
        return;
      }
    }
    main.textContent = "";
    main.appendChild(h("p", { class: "fail", text: "No such view: " + hash }));
  } catch (e) {
    main.textContent = "";
    main.appendChild(h("p", { class: "fail", id: "error", text: "Error: " + e.message }));
    main.setAttribute("data-view", "error");
  }
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", route);
