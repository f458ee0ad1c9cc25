import type { GraphEdge, GraphNode, RunGraph, TaskViewStatus } from "./types.ts";

const NODE_HEIGHT = 36;
const ROW_GAP = 18;
const COLUMN_GAP = 64;
const MARGIN = 12;

/**
 * Lays out a DAG left to right: each task sits in the column of its longest path from
 * a root (so every edge points right), rows are ordered by plan order and then by the
 * mean row of the task's upstreams, which keeps most edges straight. Pure.
 * @param taskIds Tasks in plan order.
 * @param edges `[from, to]` pairs: `to` depends on `from`. Unknown ids are added as nodes.
 * @param statusOf Status of each task, for the node colour.
 * @returns Nodes with positions and edges with SVG paths.
 */
export function layoutGraph(
  taskIds: readonly string[],
  edges: readonly (readonly [string, string])[],
  statusOf: (taskId: string) => TaskViewStatus,
): RunGraph {
  const ids = [...taskIds];
  const seen = new Set(ids);
  const ups = new Map<string, string[]>();
  for (const id of ids) ups.set(id, []);
  for (const [from, to] of edges) {
    for (const id of [from, to]) {
      if (!seen.has(id)) {
        seen.add(id);
        ids.push(id);
        ups.set(id, []);
      }
    }
    ups.get(to)!.push(from);
  }
  const level = levels(ids, ups);
  const columns: string[][] = [];
  for (const id of ids) (columns[level.get(id)!] ??= []).push(id);
  const row = new Map<string, number>();
  for (const col of columns) {
    const rank = (id: string) => {
      const r = ups.get(id)!.map((u) => row.get(u)).filter((x) => x !== undefined);
      return r.length ? r.reduce((a, b) => a + b, 0) / r.length : ids.indexOf(id);
    };
    const ranked = col.map((id) => [rank(id), id] as const);
    ranked.sort((a, b) => a[0] - b[0]);
    ranked.forEach(([, id], i) => row.set(id, i));
    col.splice(0, col.length, ...ranked.map(([, id]) => id));
  }
  const maxRows = Math.max(1, ...columns.map((c) => c.length));
  const nodes: GraphNode[] = [];
  const byId = new Map<string, GraphNode>();
  let x = MARGIN;
  columns.forEach((col, lvl) => {
    const width = Math.max(...col.map(nodeWidth));
    const top = MARGIN + ((maxRows - col.length) * (NODE_HEIGHT + ROW_GAP)) / 2;
    col.forEach((id, i) => {
      const node = {
        id,
        status: statusOf(id),
        level: lvl,
        x,
        y: top + i * (NODE_HEIGHT + ROW_GAP),
        width,
        height: NODE_HEIGHT,
      };
      nodes.push(node);
      byId.set(id, node);
    });
    x += width + COLUMN_GAP;
  });
  const out: GraphEdge[] = edges.map(([from, to]) => ({
    from,
    to,
    path: edgePath(byId.get(from)!, byId.get(to)!),
  }));
  return {
    nodes,
    edges: out,
    width: Math.max(x - COLUMN_GAP + MARGIN, 2 * MARGIN),
    height: 2 * MARGIN + maxRows * NODE_HEIGHT + (maxRows - 1) * ROW_GAP,
    edges_known: edges.length > 0,
  };
}

/** Longest-path level of every task; an edge that closes a cycle is ignored. */
function levels(ids: string[], ups: Map<string, string[]>): Map<string, number> {
  const level = new Map<string, number>();
  const visiting = new Set<string>();
  function visit(id: string): number {
    const known = level.get(id);
    if (known !== undefined) return known;
    if (visiting.has(id)) return -1;
    visiting.add(id);
    let l = 0;
    for (const u of ups.get(id)!) l = Math.max(l, visit(u) + 1);
    visiting.delete(id);
    level.set(id, l);
    return l;
  }
  for (const id of ids) visit(id);
  return level;
}

function nodeWidth(id: string): number {
  return Math.min(240, Math.max(110, id.length * 8 + 40));
}

function edgePath(a: GraphNode, b: GraphNode): string {
  const x1 = a.x + a.width, y1 = a.y + a.height / 2;
  const x2 = b.x, y2 = b.y + b.height / 2;
  const dx = Math.max(24, (x2 - x1) / 2);
  return `M${x1} ${y1} C${x1 + dx} ${y1} ${x2 - dx} ${y2} ${x2} ${y2}`;
}
