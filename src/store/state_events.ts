/**
 * Scheduler and run events appended to the state store (`STATE_STORE_PATH`), one JSON
 * object a line. Names follow the seed (`schedule_enqueued`, `run_started`,
 * `run_finished`) plus `schedule_skipped`. Every line has `v`, `timestamp` and `event`.
 */
import type { RunStatus, Trigger } from "./events.ts";

/** Fields every state event has. */
export interface StateEventBase {
  v: number;
  timestamp: string;
}

/** A schedule matched a minute and a run was queued. `minute` is local to `timezone`. */
export interface ScheduleEnqueuedEvent extends StateEventBase {
  event: "schedule_enqueued";
  schedule_id: string;
  /** `YYYY-MM-DDTHH:MM` in the schedule's timezone. */
  minute: string;
  /** The same minute as a UTC instant (ISO 8601). */
  minute_utc: string;
  timezone: string;
  dag: string;
  tenant: string;
  /** True when enqueued by catch-up rather than for the current minute. */
  catchup?: boolean;
  /** The run this minute will start as (written by the scheduler, which holds its lock). */
  run_id?: string;
  /** Process and host of the scheduler that enqueued it, for crash recovery. */
  pid?: number;
  host?: string;
}

/** A schedule-minute that did not run, and why. */
export interface ScheduleSkippedEvent extends StateEventBase {
  event: "schedule_skipped";
  schedule_id: string;
  minute: string;
  minute_utc: string;
  reason: "overlap" | "catchup_cap" | "disabled" | "invalid";
  detail?: string;
}

/** A DAG run started. `pid` and `host` let a later process tell whether it is still alive. */
export interface RunStartedEvent extends StateEventBase {
  event: "run_started";
  run_id: string;
  schedule_id?: string;
  minute?: string;
  dag_name: string;
  dag?: string;
  tenant_id: string;
  trigger: Trigger;
  retry_of?: string;
  /** Run params passed to every task as `run__<key>` (kept for `orch retry`). */
  params?: Record<string, unknown>;
  pid: number;
  host: string;
}

/** A DAG run ended. */
export interface RunFinishedEvent extends StateEventBase {
  event: "run_finished";
  run_id: string;
  schedule_id?: string;
  dag_name: string;
  status: RunStatus;
  duration_s: number;
  tasks_succeeded: number;
  tasks_failed: number;
  tasks_skipped: number;
  /** For `interrupted`: why the run was declared dead. */
  reason?: string;
}

/** Any state-store event this version of orch writes. */
export type StateEvent =
  | ScheduleEnqueuedEvent
  | ScheduleSkippedEvent
  | RunStartedEvent
  | RunFinishedEvent;

/** Schema version written into every state line as `v`. Lines without it are read as v1. */
export const STATE_SCHEMA_VERSION = 1;

/** An event as read back from the state store: known events, and any other object with `event`. */
export type StoredEvent = StateEventBase & { event: string; [key: string]: unknown };

/** What a caller passes to append: an event without `v` and `timestamp`, which the store adds. */
export type NewEvent<E extends { event: string } = StateEvent> = E extends unknown
  ? Omit<E, "v" | "timestamp">
  : never;
