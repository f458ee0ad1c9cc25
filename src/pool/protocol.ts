/**
 * Messages between the main thread and pool workers. Everything here is
 * structured-cloneable. Outputs cross as JSON text: that proves they are
 * JSON-serialisable and lets the event log embed them without re-encoding.
 */
import type { PlainError } from "../lib/errors.ts";
import type { WorkflowSource } from "../workflows/registry.ts";
import type { JsonObject } from "../workflows/types.ts";
import type { WorkflowPermissions } from "../workflows/permissions.ts";

/**
 * One attempt of one task, as the worker runs it: a {@link WireJob} of a `jobs`
 * with `source` filled in from the batch's `sources`.
 */
export interface JobRequest {
  /** Pool-wide job id. */
  id: number;
  source: WorkflowSource;
  /** The task's own params; the worker merges `upstream` and `runParams` into them. */
  params: JsonObject;
  /**
   * `[upstreamTaskId, output]` of each direct dependency. The main thread embeds each
   * output as the JSON text the upstream's worker produced, so it is parsed once, here.
   */
  upstream?: readonly (readonly [string, JsonObject])[];
  runParams?: JsonObject;
  runId: string;
  taskId: string;
  attempt: number;
  /** When set, the worker reports the start at once so the main thread can time it. */
  timeoutMs?: number;
  /**
   * Set when the own or run params may hold `${env:NAME}` references (their JSON text
   * contains one); the worker resolves secrets only then.
   */
  refs?: true;
  /**
   * A continuation: run this job only once job `after` (in the same worker) succeeded,
   * right after it, with that job's output as its only upstream (as `<task>__<key>`).
   * When `after` fails or is dropped, or this job is aborted first, it is dropped
   * unstarted and reported in `dropped`.
   */
  after?: number;
  /** Continuations may follow this job (`after` its id); the worker keeps its outcome briefly. */
  link?: true;
}

/**
 * An element of a `jobs` message's `jobs` text: a {@link JobRequest} naming its source by
 * index (`s`) into the message's `sources` instead of carrying it.
 */
export type WireJob = Omit<JobRequest, "source"> & { s: number; source?: WorkflowSource };

/** The end of one attempt. Times are epoch milliseconds (fractional). */
export interface JobResult {
  id: number;
  ok: boolean;
  /** The output as JSON text (ok only). */
  outputJson?: string;
  error?: PlainError;
  startedAt: number;
  endedAt: number;
}

/** What a workflow module says about itself. */
export interface WorkflowInfo {
  name: string;
  description?: string;
  /** JSON Schema of the params, when the workflow declares a zod schema. */
  paramsSchema?: unknown;
  /** What the workflow declared it may touch. */
  permissions?: WorkflowPermissions;
  /** Set when the workflow asked to run in a worker process. */
  isolation?: { process: { memoryMb?: number } };
  /** For each param set inspected, the problems found (empty when valid). */
  issues: string[][];
  /** Set when the module could not be loaded or has no `run`. */
  error?: PlainError;
}

/** Main thread to worker. */
export type ToWorker =
  /**
   * A batch of jobs as JSON text: a string crosses instead of a graph of objects, and
   * upstream outputs are embedded as the JSON they already are. `sources`: JSON array of
   * the batch's distinct sources; `jobs`: JSON array of {@link WireJob}; `lengths`: the
   * length of each job's text in `jobs`, so that a job whose text does not parse (broken
   * upstream JSON) fails alone.
   */
  | { type: "jobs"; sources: string; jobs: string; lengths: number[] }
  | { type: "abort"; id: number; reason: string }
  /** Import a workflow now, so the first job does not wait for it. Errors are ignored here. */
  | { type: "preload"; source: WorkflowSource }
  | { type: "inspect"; id: number; source: WorkflowSource; paramSets: JsonObject[] };

/** Worker to main thread: batched progress, and inspection answers. */
export type FromWorker =
  | {
    type: "report";
    started: { id: number; at: number }[];
    logs: { id: number; at: number; message: string }[];
    /**
     * The attempts that ended, in order, four numbers each: id, startedAt, endedAt, and
     * either the length of its output JSON in `outputs` (ok, >= 0) or `-1 - i` for a
     * failure described by `errors[i]`.
     */
    ended: number[];
    /** The output JSON texts of the successful attempts in `ended`, concatenated. */
    outputs: string;
    errors: PlainError[];
    /** Continuations dropped unstarted (their `after` job failed or they were aborted). */
    dropped?: number[];
    /**
     * Set when a continuation started since the last report: `ended` is then in the order
     * the attempts ran (each continuation after the attempt it followed), and any attempt
     * in `started` that is not in `ended` started after all of them.
     */
    chain?: true;
  }
  | { type: "inspected"; id: number; info: WorkflowInfo };
