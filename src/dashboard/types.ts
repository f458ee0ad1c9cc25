/**
 * Wire types of the dashboard API (snake_case, like the event logs they come from) and
 * the provider and action interfaces other parts of orch implement (camelCase).
 */

/** Status of a run as the dashboard shows it: the final status, or `running`. */
export type RunViewStatus = "running" | "success" | "failed" | "cancelled" | "interrupted";

/** Status of a task in a run as the dashboard shows it. */
export type TaskViewStatus =
  | "pending"
  | "running"
  | "retrying"
  | "success"
  | "failed"
  | "skipped";

/** Per-status task counts of a run. */
export interface TaskCounts {
  total: number;
  success: number;
  failed: number;
  skipped: number;
  running: number;
}

/** One run in the runs list (`GET /api/runs`). */
export interface RunSummary {
  run_id: string;
  dag_name: string;
  tenant_id: string;
  schedule_id?: string;
  trigger?: string;
  retry_of?: string;
  status: RunViewStatus;
  /** ISO instant of `dag_start` (or `run_started` when the run has no `dag_start`). */
  started: string;
  finished?: string;
  /** Final duration, or the time since `started` while running. */
  duration_s: number;
  tasks: TaskCounts;
}

/** One attempt of a task. */
export interface AttemptView {
  attempt: number;
  status: "running" | "success" | "failed";
  started: string;
  finished?: string;
  duration_s?: number;
  params?: Record<string, unknown>;
  output?: Record<string, unknown>;
  error?: string;
  error_name?: string;
  will_retry?: boolean;
}

/** A line a workflow logged. */
export interface TaskLogLine {
  timestamp: string;
  attempt: number;
  message: string;
}

/** One task of a run with its attempts. */
export interface TaskView {
  task_id: string;
  status: TaskViewStatus;
  workflow_ref?: string;
  params?: Record<string, unknown>;
  output?: Record<string, unknown>;
  error?: string;
  skip_reason?: string;
  upstream?: string;
  attempts: AttemptView[];
  logs: TaskLogLine[];
}

/** A node of the drawn DAG, with its position in SVG user units. */
export interface GraphNode {
  id: string;
  status: TaskViewStatus;
  level: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** An edge `from` → `to` (`to` depends on `from`) with an SVG path. */
export interface GraphEdge {
  from: string;
  to: string;
  path: string;
}

/** The laid-out DAG of a run. `edges_known` is false when `dag_start` carried no edges. */
export interface RunGraph {
  nodes: GraphNode[];
  edges: GraphEdge[];
  width: number;
  height: number;
  edges_known: boolean;
}

/** One run with everything the run page shows (`GET /api/runs/:id`). */
export interface RunDetail {
  run: RunSummary;
  tasks: TaskView[];
  graph: RunGraph;
  /** The run's events from both logs, oldest first, as written. */
  events: Record<string, unknown>[];
  /** True when the run has more events than the response carries. */
  events_truncated: boolean;
}

/** Last run of a schedule. */
export interface ScheduleLastRun {
  runId: string;
  status: RunViewStatus;
  started: string;
}

/** Last minute a schedule skipped, and why. */
export interface ScheduleLastSkip {
  minute: string;
  reason: string;
  detail?: string;
  at: string;
}

/**
 * A schedule as the scheduler knows it. `lastRun` and `lastSkip` are optional: the
 * dashboard fills them from the state store when the provider leaves them out.
 */
export interface ScheduleInfo {
  id: string;
  cron: string;
  timezone: string;
  enabled: boolean;
  /** The DAG file or name the schedule runs. */
  dag: string;
  tenant?: string;
  /** The next fire instants (ISO 8601), soonest first. */
  nextFireTimes: string[];
  lastRun?: ScheduleLastRun;
  lastSkip?: ScheduleLastSkip;
}

/** A workflow plugin as the registry knows it. */
export interface WorkflowInfo {
  name: string;
  description?: string;
  /** A JSON-schema-like description of the params, shown as it is. */
  params?: unknown;
}

/** Lists schedules; implemented by the scheduler. May throw; the API answers 502. */
export type SchedulesProvider = () => Promise<ScheduleInfo[]>;

/** Lists workflows; implemented by the workflow registry. May throw; the API answers 502. */
export type WorkflowsProvider = () => Promise<WorkflowInfo[]>;

/** What `POST /api/runs` asks for. */
export interface TriggerRequest {
  /** DAG name or file, as `orch run --dag` takes it. */
  dag: string;
  params?: Record<string, unknown>;
}

/**
 * The write side of the dashboard, implemented by the engine. Only called when a token
 * is configured and the request carried it. Errors that extend `OrchestratorError` with
 * exit code 2 become 400 responses (their message is shown); anything else becomes 500.
 */
export interface DashboardActions {
  /**
   * Starts a run of a DAG and returns once its run id is known (not when it ends).
   * @param request The DAG and optional params.
   * @returns The new run's id.
   */
  triggerRun(request: TriggerRequest): Promise<{ runId: string }>;
  /**
   * Starts a new run that retries a finished run (trigger `retry`, `retry_of` = runId).
   * @param runId The run to retry.
   * @returns The new run's id.
   */
  retryRun(runId: string): Promise<{ runId: string }>;
}
