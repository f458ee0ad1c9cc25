import type { z } from "zod";
import type { WorkflowPermissions } from "./permissions.ts";

/** A JSON object: what a workflow returns and what params are. */
export type JsonObject = Record<string, unknown>;

/** What a workflow's `run` receives besides its params. */
export interface TaskContext {
  /** The run this attempt belongs to. */
  readonly runId: string;
  /** The task's id in the DAG. */
  readonly taskId: string;
  /** Attempt number, from 1. */
  readonly attempt: number;
  /** Aborted when the attempt times out or the run is cancelled. */
  readonly signal: AbortSignal;
  /** Writes a line to the event log as a `task_log` event. */
  log(message: string): void;
}

/** A zod schema, or a function that builds one from the `z` it is given (no import needed). */
export type ParamsSchema = z.ZodType | ((zod: typeof z) => z.ZodType);

/** The default export of a workflow plugin. */
export interface Workflow<P extends JsonObject = JsonObject> {
  /** One line shown by `orch workflows`. */
  description?: string;
  /** Schema the task's own params must satisfy before the run starts. */
  params?: ParamsSchema;
  /**
   * What the workflow may touch; its worker gets exactly this (least privilege when
   * absent). Env names listed here may also be used in params as `${env:NAME}`.
   */
  permissions?: WorkflowPermissions;
  /**
   * `"process"` runs the workflow in a worker process instead of a thread: it costs a
   * process start, but a hung attempt is really killed and `memoryMb` caps its heap.
   */
  isolation?: "thread" | "process";
  /** Heap limit in MiB for `isolation: "process"`. */
  memoryMb?: number;
  /**
   * Does the work. Receives the task's params merged with upstream outputs
   * (`<upstream>__<key>`) and returns a JSON object (or a promise of one).
   */
  run(params: P, ctx: TaskContext): JsonObject | Promise<JsonObject>;
}
