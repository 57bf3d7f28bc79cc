// LabTrust-Gym dashboard: the episode view: timeline, lab map, device states, escalations, journeys (plain JS, no build step; loaded in order by index.html).
"use strict";

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
