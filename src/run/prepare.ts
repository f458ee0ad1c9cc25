import type { Dag } from "../dag/types.ts";
import { buildPlan, type Plan } from "../plan/build_plan.ts";
import type { TaskPool } from "../pool/task_pool.ts";
import type { WorkflowInfo } from "../pool/protocol.ts";
import type { JsonObject } from "../workflows/types.ts";
import { ParamsInvalidError, WorkflowLoadError } from "../workflows/errors.ts";
import type { WorkflowRegistry, WorkflowSource } from "../workflows/registry.ts";
import { sandboxProfile } from "../workflows/sandbox.ts";
import type { InspectionCache } from "../workflows/inspection_cache.ts";

/** A DAG that passed every check and is ready to execute or to print as a plan. */
export interface PreparedRun {
  dag: Dag;
  plan: Plan;
  /** Workflow source of each task, by task index. */
  sources: WorkflowSource[];
}

/**
 * Loads, validates and plans a DAG, resolves every workflow_ref and validates each task's
 * own params against its workflow's schema. Live runs and dry-runs share exactly this path;
 * it runs no task and writes nothing.
 * @param dagPath Path of the DAG file.
 * @param deps The registry to resolve workflows and a pool to inspect them in; with
 *   `inspected`, what earlier inspections of the same plugin files and params found is
 *   taken from there instead of a worker, and new findings are added to it.
 * @returns The prepared run.
 * @throws {DagValidationError} When the file is invalid.
 * @throws {CycleDetectedError} When depends_on edges form a cycle.
 * @throws {UnknownWorkflowError} When a workflow_ref names no plugin.
 * @throws {WorkflowLoadError} When a plugin cannot be imported or has no run().
 * @throws {ParamsInvalidError} When a task's params fail its workflow's schema.
 */
export async function prepareRun(
  dagPath: string | Dag,
  deps: { registry: WorkflowRegistry; pool: TaskPool; inspected?: InspectionCache },
): Promise<PreparedRun> {
  // The loader (and the YAML parser behind it) is imported only when a path is given.
  const dag = typeof dagPath === "string"
    ? await (await import("../dag/load.ts")).loadDag(dagPath)
    : dagPath;
  const plan = buildPlan(dag);
  const sources = dag.tasks.map((t) => deps.registry.resolve(t.workflowRef));
  const byRef = new Map<string, number[]>();
  dag.tasks.forEach((t, i) => {
    const list = byRef.get(t.workflowRef);
    if (list) list.push(i);
    else byRef.set(t.workflowRef, [i]);
  });
  const groups = [...byRef.values()];
  // The widest level bounds how many tasks run at once (one for a chain).
  const width = new Map<number, number>();
  let parallelism = 0;
  for (const l of plan.level) {
    const w = (width.get(l) ?? 0) + 1;
    width.set(l, w);
    if (w > parallelism) parallelism = w;
  }
  const infos = await inspect(
    groups.map((idx) => ({
      source: sources[idx[0]],
      paramSets: idx.map((i) => ({ ...dag.tasks[i].params })),
    })),
    deps,
    { parallelism },
  );
  const problems: { taskId: string; message: string }[] = [];
  infos.forEach((info, g) => {
    if (info.error) {
      const src = sources[groups[g][0]];
      const file = src.kind === "file" ? src.path : "built-in";
      const why = info.error.message.replace(/^Cannot load workflow "[^"]*" from "[^"]*": /, "");
      throw new WorkflowLoadError(info.name, file, why);
    }
    info.issues.forEach((msgs, k) => {
      for (const message of msgs) problems.push({ taskId: dag.tasks[groups[g][k]].id, message });
    });
  });
  if (problems.length) throw new ParamsInvalidError(dag.name, problems);
  const sandbox = deps.registry.sandbox;
  // Each task's attempts run in a worker limited to what its workflow declared, in a
  // process when it asked for one.
  infos.forEach((info, g) => {
    if (!sandbox && !info.isolation) return;
    const source = {
      ...sources[groups[g][0]],
      ...(sandbox ? { sandbox: sandboxProfile(info.permissions, sandbox) } : {}),
      ...(info.isolation ? { isolation: info.isolation } : {}),
    };
    for (const i of groups[g]) sources[i] = source;
  });
  return { dag, plan, sources };
}

/** Inspects in the pool what the cache (if any) does not know, and remembers the rest. */
async function inspect(
  requests: { source: WorkflowSource; paramSets: JsonObject[] }[],
  deps: { registry: WorkflowRegistry; pool: TaskPool; inspected?: InspectionCache },
  options: { parallelism?: number },
): Promise<WorkflowInfo[]> {
  const { registry, pool, inspected } = deps;
  if (!inspected) return pool.inspect(requests, options);
  const infos = requests.map((r) => inspected.get(registry, r.source, r.paramSets));
  const missing = requests.filter((_, i) => !infos[i]);
  if (missing.length === 0) return infos as WorkflowInfo[];
  const asked = await pool.inspect(missing, options);
  let k = 0;
  return requests.map((r, i) => {
    if (infos[i]) return infos[i];
    const info = asked[k++];
    inspected.remember(registry, r.source, r.paramSets, info);
    return info;
  });
}
