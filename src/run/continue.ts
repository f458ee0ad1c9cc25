/**
 * Continuing the runs that a memory stop ended (see `memory_incident.ts`): when a plugin
 * allocating without yielding made the serving process stop, every run in progress ended
 * with it, though only one task was to blame. After the `scheduler --serve` supervisor
 * restarts its child, the child continues each such run once, as `orch retry` would: a new
 * run (trigger `retry`, `retry_of` set) that reuses the outputs of the tasks that
 * succeeded. The culprit is quarantined by then, so its task fails alone in a capped
 * worker process and the others run.
 * @module
 */
import type { StateStoreLike, TaskEventReader } from "../store/store.ts";
import type { WorkflowRegistry } from "../workflows/registry.ts";
import { hostName } from "./liveness.ts";
import { isMemoryStopError } from "./memory_incident.ts";
import { prepareRun } from "./prepare.ts";
import { planRetry } from "./retry.ts";
import { runDag, type RunDagDeps } from "./run_dag.ts";
import type { RunResult } from "./types.ts";

/** The serving process that a memory stop ended. */
export interface StoppedProcess {
  /** Its process id, as recorded in `run_started`. */
  pid: number;
  /** When it started (ISO 8601): no run of it started before. */
  since: string;
  /** Its host (default this one). */
  host?: string;
}

/** What {@link findMemoryStoppedRuns} found. */
export interface MemoryStoppedRuns {
  /** Runs of the process that the memory stop ended and no run continued yet. */
  runIds: string[];
  /** Runs of the process with no recorded end yet (recovery has not reached them). */
  unfinished: number;
}

/**
 * Finds the runs to continue: started by `process`, ended `failed`, `cancelled` or
 * `interrupted`, with a `task_fail` that the memory stop wrote (the culprit's
 * `MemoryLimitError` in a thread, or a job cancelled by the stop), and not yet retried.
 * Reads the state store backwards to `process.since`, then each candidate's task events.
 * @param store The state store and the task-level events.
 * @param process The stopped serving process.
 * @returns The run ids, oldest first, and how many runs have no end yet.
 */
export async function findMemoryStoppedRuns(
  store: { state: StateStoreLike; taskEvents: TaskEventReader },
  process: StoppedProcess,
): Promise<MemoryStoppedRuns> {
  const host = process.host ?? hostName();
  const since = Date.parse(process.since);
  const ended = new Map<string, string>();
  const retried = new Set<string>();
  const started: string[] = [];
  let unfinished = 0;
  for await (const e of store.state.scanBackward()) {
    if (Date.parse(e.timestamp) < since) break;
    const runId = typeof e.run_id === "string" ? e.run_id : "";
    if (e.event === "run_finished" && !ended.has(runId)) ended.set(runId, String(e.status));
    if (e.event !== "run_started") continue;
    if (typeof e.retry_of === "string") retried.add(e.retry_of);
    if (e.pid !== process.pid || e.host !== host || retried.has(runId)) continue;
    const status = ended.get(runId);
    if (status === undefined) unfinished++;
    else if (status !== "success") started.push(runId);
  }
  const runIds: string[] = [];
  for (const runId of started.reverse()) {
    if (await endedByMemoryStop(store.taskEvents, runId)) runIds.push(runId);
  }
  return { runIds, unfinished };
}

/** Whether one of the run's attempts was ended by the memory stop. */
async function endedByMemoryStop(events: TaskEventReader, runId: string): Promise<boolean> {
  for await (const e of events.scanRun(runId)) {
    if (e.run_id !== runId) continue;
    if (e.event === "dag_start") return false;
    if (e.event === "task_fail" && typeof e.error === "string" && isMemoryStopError(e.error)) {
      return true;
    }
  }
  return false;
}

/** Options of {@link continueRun}. */
export interface ContinueRunOptions {
  /** The workflows. */
  registry: WorkflowRegistry;
  /** Cancels the continuation (the scheduler stops). */
  signal?: AbortSignal;
}

/**
 * Continues one run as `orch retry` does: its DAG file again, its run params, the outputs
 * of its succeeded tasks reused; trigger `retry`, `retry_of` the run.
 * @param runId The run a memory stop ended.
 * @param deps The run's dependencies, with the store's task-level events.
 * @param options The registry and a stop signal.
 * @returns How the continuation ended.
 * @throws {RunNotRetryableError} When the run cannot be retried (e.g. its retry runs).
 */
export async function continueRun(
  runId: string,
  deps: RunDagDeps & { taskEvents: TaskEventReader },
  options: ContinueRunOptions,
): Promise<RunResult> {
  const plan = await planRetry(runId, { store: deps.store, taskEvents: deps.taskEvents });
  const prepared = await prepareRun(plan.dagPath, {
    registry: options.registry,
    pool: deps.pool,
  });
  return await runDag(prepared, deps, {
    trigger: "retry",
    retryOf: plan.retryOf,
    scheduleId: plan.scheduleId,
    runParams: plan.runParams,
    reuse: plan.reuse,
    signal: options.signal,
  });
}

/** Options of {@link continueMemoryStoppedRuns}. */
export interface ContinueStoppedOptions extends ContinueRunOptions {
  /** Receives one line per decision and result. */
  notice: (line: string) => void;
  /** Waits between looks while runs of the stopped process have no end yet. */
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** How long to wait for their recovery (default 5000 ms, looking every second). */
  waitMs?: number;
}

/**
 * After a restart: finds the runs that the memory stop of `process` ended (waiting for the
 * recovery of those that could not record their end) and continues each once, one after
 * another. Never throws: a run that cannot be continued is reported and left as it is.
 * @param process The stopped serving process.
 * @param deps The run's dependencies, with the store's task-level events.
 * @param options Registry, stop signal, notices and sleep.
 * @returns The continuations' results.
 */
export async function continueMemoryStoppedRuns(
  process: StoppedProcess,
  deps: RunDagDeps & { taskEvents: TaskEventReader },
  options: ContinueStoppedOptions,
): Promise<RunResult[]> {
  const results: RunResult[] = [];
  try {
    const store = { state: deps.store, taskEvents: deps.taskEvents };
    let found = await findMemoryStoppedRuns(store, process);
    for (let waited = 0; found.unfinished > 0 && waited < (options.waitMs ?? 5000);) {
      await options.sleep(1000, options.signal);
      waited += 1000;
      found = await findMemoryStoppedRuns(store, process);
    }
    for (const runId of found.runIds) {
      if (options.signal?.aborted) break;
      options.notice(`continuing run ${runId}, ended by the memory stop of process ${process.pid}`);
      try {
        const result = await continueRun(runId, deps, options);
        options.notice(`continued run ${runId} as run ${result.runId}: ${result.status}`);
        results.push(result);
      } catch (err) {
        options.notice(`cannot continue run ${runId}: ${(err as Error).message}`);
      }
    }
  } catch (err) {
    // A stop during the wait for recovery is no failure.
    if (!options.signal?.aborted) {
      options.notice(
        `cannot continue the runs of process ${process.pid}: ${(err as Error).message}`,
      );
    }
  }
  return results;
}
