import type { Clock } from "../lib/clock.ts";
import { newRunId } from "../lib/ids.ts";
import type { Sleep } from "../lib/sleep.ts";
import type { TaskPool } from "../pool/task_pool.ts";
import type { RunEvent, Trigger } from "../store/events.ts";
import type { NewEvent, RunFinishedEvent, RunStartedEvent } from "../store/state_events.ts";
import type { RunLiveness, StateStoreLike } from "../store/store.ts";
import type { JsonObject } from "../workflows/types.ts";
import { executeDag } from "./executor.ts";
import { defaultLiveness, hostName, type RunLock } from "./liveness.ts";
import type { PreparedRun } from "./prepare.ts";
import type { EventSink, RunResult } from "./types.ts";

/** What {@link runDag} runs with. */
export interface RunDagDeps {
  pool: TaskPool;
  /** The task-level event log; flushed (when it can be) before `run_finished`. */
  events: EventSink & { flush?(): Promise<void> };
  /** The state store that gets `run_started` and `run_finished`. */
  store: StateStoreLike;
  clock: Clock;
  sleep: Sleep;
  /**
   * Marks the run alive while it runs (default: lock files in `runsDir`, else in `runs/`
   * beside a JSONL state file).
   */
  liveness?: RunLiveness;
  /** JSONL: where run lock files go (default `runs/` beside the state file). */
  runsDir?: string;
}

/** How one run is identified, linked and steered. */
export interface RunDagOptions {
  /** Default: a new id from the clock. */
  runId?: string;
  trigger?: Trigger;
  scheduleId?: string;
  /** The schedule-minute (`YYYY-MM-DDTHH:MM`, schedule's zone) of a scheduled run. */
  minute?: string;
  retryOf?: string;
  /** Passed to every task as `run__<key>`; recorded in `run_started` for `orch retry`. */
  runParams?: JsonObject;
  /** Outputs of tasks reused from an earlier run. */
  reuse?: ReadonlyMap<string, JsonObject>;
  /** Aborting it cancels the run. */
  signal?: AbortSignal;
  onEvent?: (event: RunEvent) => void;
  /** A run lock taken earlier (the scheduler takes it at enqueue); released at the end. */
  lock?: RunLock;
  /**
   * After `signal` aborts, how long to wait for tasks to stop before recording the run
   * `cancelled` anyway (a task stuck in a synchronous loop never stops). Default 5000.
   */
  cancelWaitMs?: number;
}

/**
 * Runs a prepared DAG as one recorded run: takes the run's liveness lock, appends
 * `run_started` to the state store, executes, flushes the task-level log, appends
 * `run_finished`, then releases the lock. The CLI's `run`, `retry` and the scheduler
 * all go through here, so every run shows up in `orch runs` and can be recovered.
 * @param prepared The DAG, its plan and workflow sources (from `prepareRun`).
 * @param deps Pool, event log, state store, clock and sleep.
 * @param options Run id, trigger, links, params, reuse and cancellation.
 * @returns How the run ended.
 * @throws {LogWriteError} When the state store or the event log cannot be written.
 */
export async function runDag(
  prepared: PreparedRun,
  deps: RunDagDeps,
  options: RunDagOptions = {},
): Promise<RunResult> {
  const { dag } = prepared;
  const runId = options.runId ?? newRunId(deps.clock.now());
  const lock = options.lock ?? await defaultLiveness(deps).acquire(runId);
  try {
    const link = {
      run_id: runId,
      ...(options.scheduleId ? { schedule_id: options.scheduleId } : {}),
    };
    const started: NewEvent<RunStartedEvent> = {
      event: "run_started",
      ...link,
      ...(options.minute ? { minute: options.minute } : {}),
      dag_name: dag.name,
      ...(dag.file ? { dag: dag.file } : {}),
      tenant_id: dag.tenantId,
      trigger: options.trigger ?? "manual",
      ...(options.retryOf ? { retry_of: options.retryOf } : {}),
      ...(options.runParams && Object.keys(options.runParams).length
        ? { params: options.runParams }
        : {}),
      pid: Deno.pid,
      host: hostName(),
    };
    await deps.store.recordEvent(started);
    const result = await executeWithin(prepared, deps, options, runId);
    // The run's end goes to the state store even when the event log failed (disk full),
    // so it never looks "running"; the log's error is re-thrown after.
    let logError: unknown;
    await deps.events.flush?.().catch((err) => logError = err);
    const finished: NewEvent<RunFinishedEvent> = {
      event: "run_finished",
      ...link,
      dag_name: dag.name,
      status: result.status,
      duration_s: result.durationS,
      tasks_succeeded: result.succeeded,
      tasks_failed: result.failed,
      tasks_skipped: result.skipped,
      ...(result.status === "cancelled" ? { reason: String(options.signal?.reason ?? "") } : {}),
    };
    await deps.store.recordEvent(finished);
    if (logError) throw logError;
    return result;
  } finally {
    lock.release();
  }
}

/** Executes; once cancelled, waits at most `cancelWaitMs` for the executor to settle. */
async function executeWithin(
  prepared: PreparedRun,
  deps: RunDagDeps,
  options: RunDagOptions,
  runId: string,
): Promise<RunResult> {
  const started = deps.clock.now();
  const running = executeDag({
    ...prepared,
    pool: deps.pool,
    events: deps.events,
    clock: deps.clock,
    sleep: deps.sleep,
    runId,
    trigger: options.trigger ?? "manual",
    scheduleId: options.scheduleId,
    retryOf: options.retryOf,
    runParams: options.runParams,
    reuse: options.reuse,
    signal: options.signal,
    onEvent: options.onEvent,
  });
  const signal = options.signal;
  if (!signal) return await running;
  const stuck = new AbortController();
  const giveUp = new Promise<RunResult | null>((resolve) => {
    const wait = () =>
      deps.sleep(options.cancelWaitMs ?? 5000, stuck.signal).then(() => resolve(null), () => {});
    if (signal.aborted) wait();
    else signal.addEventListener("abort", wait, { once: true });
  });
  try {
    const result = await Promise.race([running, giveUp]);
    if (result) return result;
  } finally {
    stuck.abort();
  }
  const durationS = Math.round(deps.clock.now().getTime() - started.getTime()) / 1000;
  return {
    runId,
    dagName: prepared.dag.name,
    tenantId: prepared.dag.tenantId,
    status: "cancelled",
    trigger: options.trigger ?? "manual",
    durationS,
    tasks: [],
    succeeded: 0,
    failed: 0,
    skipped: 0,
  };
}
