import type { StateStoreLike, TaskEventReader } from "../store/store.ts";
import type { JsonObject } from "../workflows/types.ts";
import { RunNotFoundError, RunNotRetryableError } from "./errors.ts";
import { findRun } from "./run_list.ts";
import { readRunTasks } from "./run_tasks.ts";

/** What a retry of a run needs: its DAG, params and the outputs to reuse. */
export interface RetryPlan {
  /** The run being retried. */
  retryOf: string;
  /** The DAG file of the original run. */
  dagPath: string;
  scheduleId?: string;
  runParams?: JsonObject;
  /** Outputs of the tasks that succeeded in the original run, by task id. */
  reuse: Map<string, JsonObject>;
}

/**
 * Looks up a failed, cancelled or interrupted run: its DAG file and run params from
 * `run_started` in the state store, and the outputs of its succeeded tasks from the
 * `task_ok` events of the task-level log (read backwards, stopping at its `dag_start`).
 * @param runId The run to retry.
 * @param deps The state store and the task-level events (a reader, or the JSONL path).
 * @returns The retry's inputs.
 * @throws {RunNotFoundError} When no `run_started` is recorded for `runId`.
 * @throws {RunNotRetryableError} When the run succeeded, is running, has no DAG file, or
 *   a retry of it succeeded or is running.
 */
export async function planRetry(
  runId: string,
  deps: { store: StateStoreLike; taskEvents?: TaskEventReader; eventsPath?: string },
): Promise<RetryPlan> {
  const run = await findRun(deps.store, runId);
  if (!run) throw new RunNotFoundError(runId);
  const status = typeof run.finished?.status === "string" ? run.finished.status : "running";
  if (status === "success" || status === "running") throw new RunNotRetryableError(runId, status);
  const done = run.retries.find((r) => r.status === "success" || r.status === "running");
  if (done) {
    throw new RunNotRetryableError(
      runId,
      status,
      `but its retry "${done.runId}" is ${done.status}`,
    );
  }
  if (typeof run.started.dag !== "string") {
    throw new RunNotRetryableError(runId, status, "but its DAG file was not recorded");
  }
  const events = deps.taskEvents ?? deps.eventsPath;
  if (events === undefined) throw new TypeError("planRetry() needs taskEvents or eventsPath");
  const tasks = await readRunTasks(events, runId);
  const params = run.started.params;
  return {
    retryOf: runId,
    dagPath: run.started.dag,
    scheduleId: typeof run.started.schedule_id === "string" ? run.started.schedule_id : undefined,
    runParams: params && typeof params === "object" ? params as JsonObject : undefined,
    reuse: tasks.outputs,
  };
}
