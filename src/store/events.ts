/**
 * The task-level events orch appends to `ORCH_EVENTS_PATH`, one JSON object a line.
 * Names and fields follow the seed; persisted fields are snake_case. Every line carries
 * `v` (the schema version), `timestamp` (ISO 8601 UTC with ms), `event`, `run_id`,
 * `dag_name` and `tenant_id`; task events add `task_id` and `attempt`.
 */

/** Schema version written into every line as `v`. Readers accept lines without it as v1. */
export const EVENT_SCHEMA_VERSION = 1;

/** Final status of a task in a run. */
export type TaskStatus = "success" | "failed" | "skipped";
/** Final status of a run. */
export type RunStatus = "success" | "failed" | "cancelled" | "interrupted";
/** Why a run started. */
export type Trigger = "manual" | "schedule" | "retry";

/** Fields every run event has. */
export interface RunEventBase {
  v: number;
  timestamp: string;
  run_id: string;
  dag_name: string;
  tenant_id: string;
}

/** A run began. */
export interface DagStartEvent extends RunEventBase {
  event: "dag_start";
  tasks: number;
  trigger: Trigger;
  dag_file?: string;
  schedule_id?: string;
  retry_of?: string;
}

/** An attempt of a task began. `params` are the task's own params, before payload merge. */
export interface TaskStartEvent extends RunEventBase {
  event: "task_start";
  task_id: string;
  attempt: number;
  workflow_ref: string;
  params?: Record<string, unknown>;
}

/** An attempt succeeded; `output` is what the workflow returned. */
export interface TaskOkEvent extends RunEventBase {
  event: "task_ok";
  task_id: string;
  attempt: number;
  duration_s: number;
  output: Record<string, unknown>;
}

/** An attempt failed; `will_retry` tells whether another attempt follows. */
export interface TaskFailEvent extends RunEventBase {
  event: "task_fail";
  task_id: string;
  attempt: number;
  error: string;
  error_name: string;
  duration_s: number;
  will_retry: boolean;
}

/** A retry was scheduled: `attempt` is the attempt that will run after `delay_s`. */
export interface TaskRetryEvent extends RunEventBase {
  event: "task_retry";
  task_id: string;
  attempt: number;
  delay_s: number;
}

/** A task never started because an upstream task failed. */
export interface TaskSkippedEvent extends RunEventBase {
  event: "task_skipped";
  task_id: string;
  attempt: 0;
  reason: "upstream_failed" | "cancelled";
  upstream: string;
}

/** A line a workflow wrote through `ctx.log()`. */
export interface TaskLogEvent extends RunEventBase {
  event: "task_log";
  task_id: string;
  attempt: number;
  message: string;
}

/** A run ended. */
export interface DagDoneEvent extends RunEventBase {
  event: "dag_done";
  status: RunStatus;
  tasks_succeeded: number;
  tasks_failed: number;
  tasks_skipped: number;
  duration_s: number;
}

/** Any task-level event. */
export type RunEvent =
  | DagStartEvent
  | TaskStartEvent
  | TaskOkEvent
  | TaskFailEvent
  | TaskRetryEvent
  | TaskSkippedEvent
  | TaskLogEvent
  | DagDoneEvent;

/** Names of the task-level events. */
export type RunEventName = RunEvent["event"];
