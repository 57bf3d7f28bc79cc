// LabTrust-Gym dashboard: the router (plain JS, no build step; loaded in order by index.html).
"use strict";

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
