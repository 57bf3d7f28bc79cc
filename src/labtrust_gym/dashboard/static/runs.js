// LabTrust-Gym dashboard: the runs, run and compare views (plain JS, no build step; loaded in order by index.html).
"use strict";

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
