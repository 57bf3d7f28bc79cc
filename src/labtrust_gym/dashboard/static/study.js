// LabTrust-Gym dashboard: the study view: leaderboard, Pareto scatters, resilience heat map (plain JS, no build step; loaded in order by index.html).
"use strict";

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
