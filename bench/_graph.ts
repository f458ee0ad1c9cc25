import type { Spec } from "./gen_dags.ts";

/** Index form of a spec, plus the expected depth of every task. */
export interface Graph {
  n: number;
  ids: string[];
  deps: number[][];
  children: number[][];
  indeg: Int32Array;
  depth: Int32Array;
}

/**
 * @param spec A DAG spec in topological order.
 * @returns Its index form.
 */
export function buildGraph(spec: Spec): Graph {
  const n = spec.tasks.length;
  const index = new Map(spec.tasks.map((t, i) => [t.id, i]));
  const ids = spec.tasks.map((t) => t.id);
  const deps = spec.tasks.map((t) => t.deps.map((d) => index.get(d)!));
  const children: number[][] = Array.from({ length: n }, () => []);
  const indeg = new Int32Array(n);
  const depth = new Int32Array(n);
  deps.forEach((ds, i) => {
    indeg[i] = ds.length;
    let m = 0;
    for (const d of ds) {
      children[d].push(i);
      if (depth[d] > m) m = depth[d];
    }
    depth[i] = m + 1;
  });
  return { n, ids, deps, children, indeg, depth };
}

/**
 * Checks that every task ran once and saw its upstream outputs.
 * @param g The graph.
 * @param depthOf The depth each task reported, by index.
 * @throws {Error} On the first task whose output is missing or wrong.
 */
export function verifyDepths(g: Graph, depthOf: (i: number) => number | undefined): void {
  for (let i = 0; i < g.n; i++) {
    const d = depthOf(i);
    if (d !== g.depth[i]) {
      throw new Error(`Task "${g.ids[i]}" reported depth ${d}, expected ${g.depth[i]}`);
    }
  }
}

/**
 * @param xs Samples.
 * @returns The median.
 */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
