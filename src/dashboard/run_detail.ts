import { layoutGraph } from "./graph_layout.ts";
import type { AttemptView, RunDetail, RunSummary, TaskView } from "./types.ts";

type Line = Record<string, unknown>;

/** Most events a run page carries (the newest are kept). */
export const MAX_EVENTS = 2000;
/** Most `task_log` lines kept per task (the newest are kept). */
export const MAX_LOGS_PER_TASK = 1000;

function obj(v: unknown): Record<string, unknown> | undefined {
  return v && typeof v === "object" && !Array.isArray(v) ? v as Record<string, unknown> : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

function attemptOf(task: TaskView, line: Line): AttemptView | undefined {
  const n = typeof line.attempt === "number" ? line.attempt : undefined;
  for (let i = task.attempts.length - 1; i >= 0; i--) {
    if (n === undefined || task.attempts[i].attempt === n) return task.attempts[i];
  }
  return undefined;
}

/**
 * Folds a run's lines into what the run page shows: tasks with attempts, params,
 * outputs, errors and logs; the laid-out graph; the events. Pure.
 * @param run The run's summary.
 * @param lines The run's lines of the events file, in file order.
 * @param stateLines The run's lines of the state store.
 * @returns The detail.
 */
export function buildRunDetail(run: RunSummary, lines: Line[], stateLines: Line[]): RunDetail {
  const tasks = new Map<string, TaskView>();
  let planOrder: string[] = [];
  let edges: [string, string][] = [];
  const task = (id: string): TaskView => {
    let t = tasks.get(id);
    if (!t) tasks.set(id, t = { task_id: id, status: "pending", attempts: [], logs: [] });
    return t;
  };
  for (const line of lines) {
    if (line.event === "dag_start") {
      planOrder = Array.isArray(line.task_ids)
        ? line.task_ids.filter((x) => typeof x === "string")
        : [];
      edges = Array.isArray(line.edges)
        ? line.edges.filter((e): e is [string, string] =>
          Array.isArray(e) && e.length === 2 && typeof e[0] === "string" && typeof e[1] === "string"
        )
        : [];
      for (const id of planOrder) task(id);
      continue;
    }
    const id = str(line.task_id);
    if (!id) continue;
    applyTaskLine(task(id), line);
  }
  const order = [...new Set([...planOrder, ...tasks.keys()])];
  const events = [...lines, ...stateLines].sort((a, b) =>
    String(a.timestamp ?? "").localeCompare(String(b.timestamp ?? ""))
  );
  return {
    run,
    tasks: order.map((id) => tasks.get(id)!),
    graph: layoutGraph(order, edges, (id) => tasks.get(id)?.status ?? "pending"),
    events: events.slice(-MAX_EVENTS),
    events_truncated: events.length > MAX_EVENTS,
  };
}

function applyTaskLine(t: TaskView, line: Line): void {
  const ts = str(line.timestamp) ?? "";
  switch (line.event) {
    case "task_start": {
      const params = obj(line.params);
      t.workflow_ref = str(line.workflow_ref) ?? t.workflow_ref;
      t.params ??= params;
      t.status = "running";
      const attempt = typeof line.attempt === "number" ? line.attempt : t.attempts.length + 1;
      t.attempts.push({ attempt, status: "running", started: ts, params });
      break;
    }
    case "task_ok": {
      t.status = "success";
      t.output = obj(line.output);
      const a = attemptOf(t, line);
      if (a) Object.assign(a, { status: "success", finished: ts, output: t.output });
      if (a && typeof line.duration_s === "number") a.duration_s = line.duration_s;
      break;
    }
    case "task_fail": {
      t.status = line.will_retry === true ? "retrying" : "failed";
      t.error = str(line.error);
      const a = attemptOf(t, line);
      if (a) {
        Object.assign(a, {
          status: "failed",
          finished: ts,
          error: t.error,
          error_name: str(line.error_name),
          will_retry: line.will_retry === true,
        });
        if (typeof line.duration_s === "number") a.duration_s = line.duration_s;
      }
      break;
    }
    case "task_retry":
      t.status = "retrying";
      break;
    case "task_skipped":
      t.status = "skipped";
      t.skip_reason = str(line.reason);
      t.upstream = str(line.upstream);
      break;
    case "task_log":
      t.logs.push({
        timestamp: ts,
        attempt: typeof line.attempt === "number" ? line.attempt : 0,
        message: String(line.message ?? ""),
      });
      if (t.logs.length > MAX_LOGS_PER_TASK) t.logs.shift();
      break;
  }
}
