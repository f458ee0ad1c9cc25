/**
 * Messages between the main thread and pool workers. Everything here is
 * structured-cloneable. Outputs cross as JSON text: that proves they are
 * JSON-serialisable and lets the event log embed them without re-encoding.
 */
import type { PlainError } from "../lib/errors.ts";
import type { WorkflowSource } from "../workflows/registry.ts";
import type { JsonObject } from "../workflows/types.ts";
import type { WorkflowPermissions } from "../workflows/permissions.ts";

/** One attempt of one task, as sent to a worker. */
export interface JobRequest {
  /** Pool-wide job id. */
  id: number;
  source: WorkflowSource;
  /** The task's own params; the worker merges `upstream` and `runParams` into them. */
  params: JsonObject;
  /** `[upstreamTaskId, outputJson]` of each direct dependency. */
  upstream?: readonly (readonly [string, string])[];
  runParams?: JsonObject;
  runId: string;
  taskId: string;
  attempt: number;
  /** When set, the worker reports the start at once so the main thread can time it. */
  timeoutMs?: number;
}

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
  | { type: "jobs"; jobs: JobRequest[] }
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
    results: JobResult[];
  }
  | { type: "inspected"; id: number; info: WorkflowInfo };
