// LabTrust-Gym dashboard: the evidence, improvement-run and knowledge views (plain JS, no build step; loaded in order by index.html).
"use strict";

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
  // the run and its events are fetched at once; later polls fetch the events alone
  const [, firstEvents] = await Promise.all([refresh(), api("/api/improve/" + id + "/events?after=-1")]);
  const out = [head];
  // live events
  const tbody = h("tbody");
  const evInfo = h("span", { id: "event-count", class: "muted" });
  out.push(h("h3", { text: "Event stream (live, polled with the seq cursor)" }), h("p", {}, evInfo),
    h("div", { class: "events" }, h("table", { class: "events-table" }, h("thead", {}, h("tr", {}, ...["seq", "time", "cycle", "stage", "kind", "payload"].map(t => h("th", { text: t })))), tbody)));
  let cursor = -1, first = true, busy = false;
  async function poll(prefetched) {
    if (busy) return; busy = true;
    try {
      const r = prefetched || await api("/api/improve/" + id + "/events?after=" + cursor);
      const rows = document.createDocumentFragment();
      for (const e of r.events) rows.appendChild(eventRow(e, !first));
      tbody.appendChild(rows);
      // a stage or the run changed state: redraw cycles, lineage, gates, approvals, budget
      if (!first && r.events.some(e => /stage_done|^run_|approval/.test(e.kind))) refresh().catch(() => {});
      if (r.events.length) { cursor = r.next; const box = tbody.closest(".events"); box.scrollTop = box.scrollHeight; }
      evInfo.textContent = r.total + " events · chain " + (r.chain_ok ? "intact" : "BROKEN: " + r.problems.join("; "));
      evInfo.className = r.chain_ok ? "muted" : "fail";
      first = false;
    } catch (e) { evInfo.textContent = "events: " + e.message; }
    busy = false;
  }
  await poll(firstEvents);
  timers.push(setInterval(() => poll(), 1000));
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
