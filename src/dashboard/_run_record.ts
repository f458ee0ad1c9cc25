import type { RunSummary, RunViewStatus, TaskCounts, TaskViewStatus } from "./types.ts";

/** What the index keeps in memory for one run. Details are re-read from `ranges`. */
export interface RunRecord {
  runId: string;
  dagName: string;
  tenantId: string;
  scheduleId?: string;
  minute?: string;
  trigger?: string;
  retryOf?: string;
  status: RunViewStatus;
  started: string;
  startedMs: number;
  finished?: string;
  durationS?: number;
  /** From `dag_done`; a `run_finished` status only applies when there is none. */
  doneInEvents: boolean;
  counts: TaskCounts;
  /** Live task statuses; dropped (null) once the run is done to save memory. */
  taskStatus: Map<string, TaskViewStatus> | null;
  /** Flat `[offset, length, ...]` of the run's lines in the events file. */
  ranges: number[];
  /** The run's lines of the state file (two or three small objects). */
  stateEvents: Record<string, unknown>[];
}

type Line = Record<string, unknown>;

function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/**
 * A new record for a run first seen in `line`.
 * @param runId The run id.
 * @param line The first line of the run (any log).
 * @returns The record, status `running`.
 */
export function newRunRecord(runId: string, line: Line): RunRecord {
  const started = str(line.timestamp) ?? new Date(0).toISOString();
  return {
    runId,
    dagName: str(line.dag_name) ?? "",
    tenantId: str(line.tenant_id) ?? "",
    status: "running",
    started,
    startedMs: Date.parse(started) || 0,
    doneInEvents: false,
    counts: { total: 0, success: 0, failed: 0, skipped: 0, running: 0 },
    taskStatus: new Map(),
    ranges: [],
    stateEvents: [],
  };
}

function bucket(s: TaskViewStatus | undefined): keyof TaskCounts | null {
  if (s === "success" || s === "failed" || s === "skipped") return s;
  if (s === "running" || s === "retrying") return "running";
  return null;
}

function setTask(rec: RunRecord, taskId: string, status: TaskViewStatus): void {
  if (!rec.taskStatus) return;
  const before = bucket(rec.taskStatus.get(taskId));
  if (before) rec.counts[before]--;
  rec.taskStatus.set(taskId, status);
  const after = bucket(status);
  if (after) rec.counts[after]++;
  if (rec.taskStatus.size > rec.counts.total) rec.counts.total = rec.taskStatus.size;
}

/**
 * Folds one line of the events file into its run's record.
 * @param rec The run's record.
 * @param line The event.
 * @returns True when the run's start instant changed (the list order may change).
 */
export function applyRunEvent(rec: RunRecord, line: Line): boolean {
  const taskId = str(line.task_id);
  switch (line.event) {
    case "dag_start": {
      rec.dagName = str(line.dag_name) ?? rec.dagName;
      rec.tenantId = str(line.tenant_id) ?? rec.tenantId;
      rec.trigger = str(line.trigger) ?? rec.trigger;
      rec.scheduleId = str(line.schedule_id) ?? rec.scheduleId;
      rec.retryOf = str(line.retry_of) ?? rec.retryOf;
      const ids = Array.isArray(line.task_ids) ? line.task_ids.length : 0;
      rec.counts.total = Math.max(rec.counts.total, num(line.tasks) ?? 0, ids);
      const started = str(line.timestamp);
      if (started && started !== rec.started) {
        rec.started = started;
        rec.startedMs = Date.parse(started) || 0;
        return true;
      }
      return false;
    }
    case "task_start":
      if (taskId) setTask(rec, taskId, "running");
      return false;
    case "task_ok":
      if (taskId) setTask(rec, taskId, "success");
      return false;
    case "task_fail":
      if (taskId) setTask(rec, taskId, line.will_retry === true ? "retrying" : "failed");
      return false;
    case "task_retry":
      if (taskId) setTask(rec, taskId, "retrying");
      return false;
    case "task_skipped":
      if (taskId) setTask(rec, taskId, "skipped");
      return false;
    case "dag_done":
      rec.doneInEvents = true;
      finish(rec, line);
      return false;
    default:
      return false;
  }
}

/**
 * Folds one `run_started` or `run_finished` line of the state file into its run's record.
 * @param rec The run's record.
 * @param line The state event.
 */
export function applyStateEvent(rec: RunRecord, line: Line): void {
  rec.stateEvents.push(line);
  rec.scheduleId = str(line.schedule_id) ?? rec.scheduleId;
  if (line.event === "run_started") {
    rec.trigger = str(line.trigger) ?? rec.trigger;
    rec.retryOf = str(line.retry_of) ?? rec.retryOf;
    rec.minute = str(line.minute) ?? rec.minute;
    if (!rec.dagName) rec.dagName = str(line.dag_name) ?? "";
    if (!rec.tenantId) rec.tenantId = str(line.tenant_id) ?? "";
  } else if (line.event === "run_finished" && !rec.doneInEvents) {
    finish(rec, line);
  }
}

function finish(rec: RunRecord, line: Line): void {
  const status = str(line.status);
  rec.status = status === "success" || status === "failed" || status === "cancelled" ||
      status === "interrupted"
    ? status
    : "failed";
  rec.finished = str(line.timestamp);
  const finishedMs = rec.finished ? Date.parse(rec.finished) : NaN;
  rec.durationS = num(line.duration_s) ??
    (Number.isFinite(finishedMs) ? (finishedMs - rec.startedMs) / 1000 : 0);
  rec.counts.success = num(line.tasks_succeeded) ?? rec.counts.success;
  rec.counts.failed = num(line.tasks_failed) ?? rec.counts.failed;
  rec.counts.skipped = num(line.tasks_skipped) ?? rec.counts.skipped;
  rec.counts.running = 0;
  rec.taskStatus = null;
}

/**
 * The wire form of a record.
 * @param rec The record.
 * @param nowMs Now, for the duration of a running run.
 * @returns The summary.
 */
export function toSummary(rec: RunRecord, nowMs: number): RunSummary {
  const out: RunSummary = {
    run_id: rec.runId,
    dag_name: rec.dagName,
    tenant_id: rec.tenantId,
    status: rec.status,
    started: rec.started,
    duration_s: round3(rec.durationS ?? Math.max(0, (nowMs - rec.startedMs) / 1000)),
    tasks: { ...rec.counts },
  };
  if (rec.scheduleId) out.schedule_id = rec.scheduleId;
  if (rec.trigger) out.trigger = rec.trigger;
  if (rec.retryOf) out.retry_of = rec.retryOf;
  if (rec.finished) out.finished = rec.finished;
  return out;
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
