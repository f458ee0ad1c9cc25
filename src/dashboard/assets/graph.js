import { h, s } from "./dom.js";

/** Draws the server's layout as SVG: nodes coloured by status, edges from depends_on. */
export function drawGraph(graph, onSelect) {
  if (graph.nodes.length === 0) return h("p", { class: "muted" }, "No tasks yet.");
  const svg = s(
    "svg",
    {
      class: "graph",
      viewBox: `0 0 ${graph.width} ${graph.height}`,
      width: graph.width,
      height: graph.height,
      role: "img",
      "aria-label": "DAG of the run",
    },
    s(
      "defs",
      null,
      s(
        "marker",
        {
          id: "arrow",
          viewBox: "0 0 10 10",
          refX: 9,
          refY: 5,
          markerWidth: 7,
          markerHeight: 7,
          orient: "auto",
        },
        s("path", { d: "M0 0 L10 5 L0 10 z", class: "arrow" }),
      ),
    ),
    graph.edges.map((e) =>
      s("path", {
        class: "edge",
        d: e.path,
        "marker-end": "url(#arrow)",
        "data-from": e.from,
        "data-to": e.to,
      })
    ),
    graph.nodes.map((n) =>
      s(
        "g",
        {
          class: `node status-${n.status}`,
          "data-task-id": n.id,
          "data-status": n.status,
          transform: `translate(${n.x} ${n.y})`,
          tabindex: 0,
          onclick: () => onSelect(n.id),
        },
        s("title", null, `${n.id}: ${n.status}`),
        s("rect", { width: n.width, height: n.height, rx: 6 }),
        s("text", { x: 12, y: n.height / 2, "dominant-baseline": "central" }, clip(n.id, n.width)),
      )
    ),
  );
  return h(
    "div",
    { class: "graph-wrap" },
    svg,
    graph.edges_known
      ? null
      : h("p", { class: "muted" }, "The event log carries no depends_on edges for this run."),
  );
}

function clip(text, width) {
  const max = Math.floor((width - 20) / 7.5);
  return text.length > max ? text.slice(0, max - 1) + "…" : text;
}
