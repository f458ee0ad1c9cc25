import type { FollowerStats } from "./log_follower.ts";
import type { RunIndex } from "./run_index.ts";
import type { RunViewStatus } from "./types.ts";

/** A cumulative histogram's data (`Histogram` has this shape). */
export interface HistogramData {
  /** Ascending upper bounds (seconds). */
  readonly bounds: readonly number[];
  /** Non-cumulative count per bound; the last slot is +Inf. */
  readonly counts: readonly number[];
  readonly sum: number;
  readonly count: number;
}

/** Everything `/metrics` reports, whoever counted it (the index, or the store in SQL). */
export interface MetricValues {
  /** Runs by status: the status of the last `dag_done`, else of `run_finished`, else running. */
  runs: Record<RunViewStatus, number>;
  /** Task attempts that ended (`task_ok`, `task_fail`, `task_skipped`), by status. */
  attempts: { success: number; failed: number; skipped: number };
  /** Durations (`duration_s`) of ended attempts, by status. */
  durations: { success: HistogramData; failed: HistogramData };
  /** Scheduler lag (scheduled minute to `run_started`) by schedule id. */
  lag: ReadonlyMap<string, HistogramData>;
  /** The scheduler's last tick (ms since the epoch), or null. */
  lastTickMs: number | null;
  /** Well-formed and skipped lines (rows) of each log (`events`, `state`). */
  logs: Record<string, Pick<FollowerStats, "lines" | "corrupt">>;
}

/** Content type of the Prometheus text exposition format. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

function label(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function labels(pairs: Record<string, string>): string {
  const body = Object.entries(pairs).map(([k, v]) => `${k}="${label(v)}"`).join(",");
  return body ? `{${body}}` : "";
}

function histogram(out: string[], name: string, base: Record<string, string>, h: HistogramData) {
  let cumulative = 0;
  h.bounds.forEach((b, i) => {
    cumulative += h.counts[i];
    out.push(`${name}_bucket${labels({ ...base, le: String(b) })} ${cumulative}`);
  });
  out.push(`${name}_bucket${labels({ ...base, le: "+Inf" })} ${h.count}`);
  out.push(`${name}_sum${labels(base)} ${Number(h.sum.toFixed(6))}`);
  out.push(`${name}_count${labels(base)} ${h.count}`);
}

/**
 * The metric values of the index (what the dashboard folded from the logs).
 * @param index The run index.
 * @param files Follower counters by file (`events`, `state`).
 * @param lastTickMs When the scheduler last ticked (its watermarks file's mtime), if known;
 *   the later of it and the last `schedule_enqueued`/`schedule_skipped` is reported.
 * @returns The values.
 */
export function indexMetrics(
  index: RunIndex,
  files: Record<string, FollowerStats>,
  lastTickMs: number | null = null,
): MetricValues {
  const written = index.scheduler.lastTickMs;
  return {
    runs: index.countByStatus(),
    attempts: index.attempts,
    durations: index.durations,
    lag: index.scheduler.lag,
    lastTickMs: lastTickMs === null ? written : Math.max(lastTickMs, written ?? 0),
    logs: files,
  };
}

/**
 * Renders metric values as Prometheus text (format 0.0.4). Metric names:
 * `orch_runs{status}`, `orch_runs_in_progress`, `orch_task_attempts_total{status}`,
 * `orch_task_duration_seconds{status}` (histogram), `orch_scheduler_lag_seconds{schedule_id}`
 * (histogram), `orch_scheduler_last_tick_timestamp_seconds`,
 * `orch_dashboard_log_lines{file}`, `orch_dashboard_corrupt_lines{file}`.
 * @param values The values.
 * @returns The exposition text, ending with a newline.
 */
export function renderMetrics(values: MetricValues): string {
  const out: string[] = [];
  const byStatus = values.runs;
  out.push("# HELP orch_runs Runs in the event log by status.", "# TYPE orch_runs gauge");
  for (const [status, n] of Object.entries(byStatus)) {
    out.push(`orch_runs${labels({ status })} ${n}`);
  }
  out.push(
    "# HELP orch_runs_in_progress Runs started and not yet finished.",
    "# TYPE orch_runs_in_progress gauge",
    `orch_runs_in_progress ${byStatus.running}`,
  );
  out.push(
    "# HELP orch_task_attempts_total Task attempts that ended, by status.",
    "# TYPE orch_task_attempts_total counter",
  );
  for (const [status, n] of Object.entries(values.attempts)) {
    out.push(`orch_task_attempts_total${labels({ status })} ${n}`);
  }
  out.push(
    "# HELP orch_task_duration_seconds Duration of ended task attempts.",
    "# TYPE orch_task_duration_seconds histogram",
  );
  for (const [status, h] of Object.entries(values.durations)) {
    histogram(out, "orch_task_duration_seconds", { status }, h);
  }
  out.push(
    "# HELP orch_scheduler_lag_seconds Time from a schedule's minute to its run_started.",
    "# TYPE orch_scheduler_lag_seconds histogram",
  );
  for (const [id, h] of [...values.lag].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    histogram(out, "orch_scheduler_lag_seconds", { schedule_id: id }, h);
  }
  const tick = values.lastTickMs;
  out.push(
    "# HELP orch_scheduler_last_tick_timestamp_seconds Time of the last scheduler tick (watermarks file, or last enqueue/skip).",
    "# TYPE orch_scheduler_last_tick_timestamp_seconds gauge",
  );
  if (tick !== null) out.push(`orch_scheduler_last_tick_timestamp_seconds ${tick / 1000}`);
  out.push(
    "# HELP orch_dashboard_log_lines Well-formed lines read from each log.",
    "# TYPE orch_dashboard_log_lines gauge",
  );
  for (const [file, s] of Object.entries(values.logs)) {
    out.push(`orch_dashboard_log_lines${labels({ file })} ${s.lines}`);
  }
  out.push(
    "# HELP orch_dashboard_corrupt_lines Lines skipped because they were not valid JSON events.",
    "# TYPE orch_dashboard_corrupt_lines gauge",
  );
  for (const [file, s] of Object.entries(values.logs)) {
    out.push(`orch_dashboard_corrupt_lines${labels({ file })} ${s.corrupt}`);
  }
  return out.join("\n") + "\n";
}
