import type { PlainError } from "../lib/errors.ts";
import type { WorkflowSource } from "../workflows/registry.ts";
import type { JsonObject } from "../workflows/types.ts";
import type { WorkflowInfo } from "./protocol.ts";

/** An upstream task's output as JSON text, keyed by the upstream task's id. */
export type UpstreamOutput = readonly [taskId: string, outputJson: string];

/**
 * One attempt of a task, as submitted to a pool. The params the workflow receives are
 * built in the worker by `mergePayload(params, upstream, runParams)`: the task's own
 * params, then each upstream output key as `<upstream_id>__<key>`, then `run__<key>`.
 * Outputs travel as the JSON text the upstream worker produced, so the main thread
 * neither merges nor re-encodes them.
 */
export interface Job {
  source: WorkflowSource;
  /** The task's own params. */
  params: JsonObject;
  /** Outputs of the direct dependencies, in `depends_on` order. */
  upstream?: readonly UpstreamOutput[];
  /** Params of the whole run, passed as `run__<key>`. */
  runParams?: JsonObject;
  runId: string;
  taskId: string;
  attempt: number;
  /** Time limit of the attempt in ms; past it the attempt fails with a TimeoutError. */
  timeoutMs?: number;
}

/** Progress callbacks of one job. Times are epoch milliseconds. */
export interface JobHooks {
  /** The attempt began running in a worker. */
  onStart?(at: number): void;
  /** The workflow called `ctx.log()`. */
  onLog?(message: string, at: number): void;
}

/** The callback form of {@link TaskPool.run}: progress and the end of one job. */
export interface JobHandler extends JobHooks {
  /** The attempt ended; called once, never from inside the `submit()` call itself. */
  onDone(outcome: JobOutcome): void;
}

/**
 * A continuation's handler: as {@link JobHandler}, plus `onDropped` when it will not run
 * (its predecessor did not succeed, it was aborted, or its worker went away before it
 * started). `onStart` comes only after its predecessor's `onDone`.
 */
export interface FollowHandler extends JobHandler {
  /** The continuation ended unstarted; no other callback follows. */
  onDropped(): void;
}

/**
 * How an attempt ended. Every failure is data, never a rejection. `outputJson` is the
 * text the worker produced; `output` may be parsed from it on first access.
 */
export type JobOutcome =
  | {
    ok: true;
    readonly output: JsonObject;
    outputJson: string;
    startedAt: number;
    endedAt: number;
  }
  | {
    ok: false;
    error: PlainError;
    startedAt: number;
    endedAt: number;
    /** The attempt ran past its timeout. */
    timedOut?: boolean;
    /** The attempt was cancelled before or while running. */
    cancelled?: boolean;
  };

/**
 * Runs jobs with bounded concurrency: at most `size` attempts run at once.
 * Implementations: `WorkerPool` (Web Workers) and `InlinePool` (same thread, for tests).
 */
export interface TaskPool {
  /** Number of attempts that may run at once. */
  readonly size: number;
  /**
   * Queues an attempt.
   * @returns How it ended; never rejects.
   */
  run(job: Job, hooks?: JobHooks): Promise<JobOutcome>;
  /**
   * Optional: queues an attempt and reports to `handler`, without a promise per job
   * (what the executor uses when a pool has it).
   */
  submit?(job: Job, handler: JobHandler): void;
  /**
   * Optional, with `follow`: as `submit`, for a job that continuations may follow (a link
   * of a chain).
   */
  submitLink?(job: Job, handler: JobHandler): void;
  /**
   * Optional: a continuation. Runs `job` in the same worker right after the attempt of
   * `after` (a job given to `submitLink` or `follow`, not ended) succeeds, with its output
   * as `job`'s only upstream (`job.upstream` is ignored), without a round trip through
   * this thread. When `after` fails, times out or is cancelled, `job` never starts and
   * `handler.onDropped()` is called.
   * @returns false when it cannot or should not (`after` ended or is unknown, already has
   *   a continuation, `job` needs another kind of worker, or the pool has more jobs
   *   waiting than workers): submit it normally later.
   */
  follow?(after: Job, job: Job, handler: FollowHandler): boolean;
  /**
   * Loads workflows and validates param sets against their schemas.
   * @param options `parallelism`: how many of the tasks may run at once at most (the
   *   widest level of their DAG), so no more workers are started for them than that.
   * @returns One info per source, in order.
   */
  inspect(
    requests: { source: WorkflowSource; paramSets: JsonObject[] }[],
    options?: { parallelism?: number },
  ): Promise<WorkflowInfo[]>;
  /** Cancels every queued and running attempt of a run (running ones see `ctx.signal` abort). */
  cancelRun(runId: string, reason: string): void;
  /** Stops every worker. Workers stuck in a synchronous loop may outlive this (see README). */
  close(): Promise<void>;
}
