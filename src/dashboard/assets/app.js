import { h, mount } from "./dom.js";
import { renderRuns } from "./runs_page.js";
import { renderRun } from "./run_page.js";
import { renderSchedules } from "./schedules_page.js";
import { renderWorkflows } from "./workflows_page.js";

const main = document.getElementById("main");
const liveDot = document.getElementById("live");
const listeners = new Set();
let cleanup = null;
let info = { read_only: true, actions: false };

/** Live updates: one EventSource for the whole app; pages subscribe with ctx.onLive. */
function connect() {
  const es = new EventSource("/api/events");
  es.addEventListener("open", () => liveDot.classList.add("on"));
  es.addEventListener("error", () => liveDot.classList.remove("on"));
  for (const name of ["runs", "reload"]) {
    es.addEventListener(name, (e) => {
      const data = JSON.parse(e.data);
      for (const fn of listeners) fn(name, data);
    });
  }
}

const ctx = {
  get info() {
    return info;
  },
  navigate,
  onLive(fn) {
    listeners.add(fn);
    return () => listeners.delete(fn);
  },
  token() {
    return sessionStorage.getItem("orch-token") ?? "";
  },
  setToken(t) {
    sessionStorage.setItem("orch-token", t);
  },
};

function navigate(href, replace = false) {
  if (replace) history.replaceState(null, "", href);
  else history.pushState(null, "", href);
  route();
}

async function route() {
  if (cleanup) cleanup();
  cleanup = null;
  listeners.clear();
  const path = location.pathname;
  const section = path.startsWith("/schedules")
    ? "schedules"
    : path.startsWith("/workflows")
    ? "workflows"
    : "runs";
  for (const a of document.querySelectorAll("[data-nav]")) {
    a.classList.toggle("active", a.dataset.nav === section);
  }
  const root = mount(main);
  try {
    const m = /^\/runs\/([^/]+)\/?$/.exec(path);
    if (m) cleanup = await renderRun(root, decodeURIComponent(m[1]), ctx);
    else if (section === "schedules") cleanup = await renderSchedules(root, ctx);
    else if (section === "workflows") cleanup = await renderWorkflows(root, ctx);
    else cleanup = await renderRuns(root, ctx);
  } catch (err) {
    mount(root, h("p", { class: "error-box" }, String(err.message ?? err)));
  }
}

document.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-link]");
  if (!a || e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  navigate(a.getAttribute("href"));
});
addEventListener("popstate", route);

try {
  info = await (await fetch("/api/info")).json();
} catch {
  // keep read-only defaults
}
document.getElementById("mode").textContent = info.actions ? "actions enabled" : "read-only";
connect();
route();
