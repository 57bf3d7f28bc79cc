// LabTrust-Gym dashboard: plain JS, no build step. Every value from the API goes into
// the page as text (textContent / SVG text nodes), never as HTML. Shared helpers.
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

// ---------------------------------------------------------------- lists
function listView(kind, heading, href, cols) {
  const items = (INDEX.entries[kind] || []);
  if (!items.length) return [h("h2", { text: heading }), h("p", { class: "muted", text: "Nothing of this kind under the root." })];
  return [h("h2", { text: heading }), sortableTable([
    { key: "rel", label: "path", render: e => h("a", { href: href + e.id, text: e.rel }) },
    ...cols.map(c => ({ key: c, label: c, value: e => e.meta[c], render: e => fmt(e.meta[c]) })),
  ], items, { cls: kind + "-list" })];
}
