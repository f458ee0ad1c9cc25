import type { Dag } from "../dag/types.ts";
import { CycleDetectedError } from "../dag/errors.ts";
import { findCycle } from "./find_cycle.ts";
import { IndexHeap } from "./_heap.ts";

/**
 * The execution plan of a DAG: an index form of the graph plus a deterministic
 * topological order. Pure data, computed once per DAG, shared by dry-run and execution.
 */
export interface Plan {
  /** Task ids by index (file order). */
  readonly ids: readonly string[];
  /** Index of each task id. */
  readonly indexOf: ReadonlyMap<string, number>;
  /** For each task, the indexes it depends on (in `depends_on` order). */
  readonly dependsOn: readonly (readonly number[])[];
  /** For each task, the indexes that depend on it. */
  readonly dependants: readonly (readonly number[])[];
  /** Topological order; among tasks ready together, file order first. */
  readonly order: readonly number[];
  /** Level of each task: 0 for roots, else 1 + the deepest dependency's level. */
  readonly level: readonly number[];
}

/**
 * Builds the plan of a validated DAG.
 * @param dag The DAG (dependencies must name existing tasks, as `parseDag` guarantees).
 * @returns The plan.
 * @throws {CycleDetectedError} When `depends_on` edges form a cycle; names the path.
 */
export function buildPlan(dag: Dag): Plan {
  const n = dag.tasks.length;
  const ids = dag.tasks.map((t) => t.id);
  const indexOf = new Map(ids.map((id, i) => [id, i]));
  const dependsOn = dag.tasks.map((t) =>
    t.dependsOn.map((d) => {
      const i = indexOf.get(d);
      if (i === undefined) throw new RangeError(`Task "${t.id}" depends on unknown "${d}"`);
      return i;
    })
  );
  const dependants: number[][] = Array.from({ length: n }, () => []);
  const indegree = new Int32Array(n);
  dependsOn.forEach((deps, i) => {
    indegree[i] = deps.length;
    for (const d of deps) dependants[d].push(i);
  });
  const ready = new IndexHeap();
  for (let i = 0; i < n; i++) if (indegree[i] === 0) ready.push(i);
  const order: number[] = [];
  const level = new Array<number>(n).fill(0);
  while (ready.size > 0) {
    const i = ready.pop()!;
    order.push(i);
    for (const c of dependants[i]) {
      if (level[i] + 1 > level[c]) level[c] = level[i] + 1;
      if (--indegree[c] === 0) ready.push(c);
    }
  }
  if (order.length < n) {
    // findCycle walks dependency edges; report it in run order (`a -> b`: b needs a).
    const cycle = (findCycle(dependsOn) ?? []).reverse();
    throw new CycleDetectedError(dag.name, cycle.map((i) => ids[i]));
  }
  return { ids, indexOf, dependsOn, dependants, order, level };
}
