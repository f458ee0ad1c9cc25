import page from "./assets/index.html" with { type: "text" };
import style from "./assets/style.css" with { type: "text" };
import app from "./assets/app.js" with { type: "text" };
import dom from "./assets/dom.js" with { type: "text" };
import runsPage from "./assets/runs_page.js" with { type: "text" };
import runPage from "./assets/run_page.js" with { type: "text" };
import graph from "./assets/graph.js" with { type: "text" };
import gantt from "./assets/gantt.js" with { type: "text" };
import schedulesPage from "./assets/schedules_page.js" with { type: "text" };
import workflowsPage from "./assets/workflows_page.js" with { type: "text" };

/** The HTML shell every page route answers with. */
export const PAGE: string = page;

const JS = "text/javascript; charset=utf-8";

/**
 * Static assets served under `/assets/<name>`, embedded with text imports so a compiled
 * binary needs no files and no network.
 */
export const ASSETS: Readonly<Record<string, { body: string; type: string }>> = Object.freeze({
  "style.css": { body: style, type: "text/css; charset=utf-8" },
  "app.js": { body: app, type: JS },
  "dom.js": { body: dom, type: JS },
  "runs_page.js": { body: runsPage, type: JS },
  "run_page.js": { body: runPage, type: JS },
  "graph.js": { body: graph, type: JS },
  "gantt.js": { body: gantt, type: JS },
  "schedules_page.js": { body: schedulesPage, type: JS },
  "workflows_page.js": { body: workflowsPage, type: JS },
});
