import type { StoredEvent } from "../store/state_events.ts";
import type { StateStore } from "../store/state_store.ts";

/** Status shown for a run: a final status, or `running` / `queued` while unfinished. */
export type RunRowStatus =
  | "success"
  | "failed"
  | "cancelled"
  | "interrupted"
  | "running"
  | "queued";

/** One run as `orch runs` shows it (snake_case: it is also the `--json` form). */
export interface RunRow {
  run_id: string;
  schedule_id: string | null;
  dag_name: string;
  status: RunRowStatus;
  trigger: string | null;
  /** ISO instant of `run_started` (or `schedule_enqueued` for runs that never started). */
  started: string;
  finished: string | null;
  duration_s: number | null;
  retry_of: string | null;
  /** Why an interrupted or cancelled run ended so. */
  reason: string | null;
  /** The DAG file, when recorded. */
  dag: string | null;
}

/** Filters of {@link listRuns}. */
export interface ListRunsOptions {
  /** How many runs (default 20). */
  limit?: number;
  scheduleId?: string;
  status?: string;
}

/**
 * The newest runs, newest first, folded from `run_started` / `run_finished` (and
 * `schedule_enqueued` for runs that never started). Reads backwards and stops once
 * `limit` runs matched, so cost follows what is returned.
 * @param store The state store.
 * @param options Limit and filters.
 * @returns Up to `limit` runs, newest first.
 */
export async function listRuns(
  store: StateStore,
  options: ListRunsOptions = {},
): Promise<RunRow[]> {
  const limit = options.limit ?? 20;
  const finished = new Map<string, StoredEvent>();
  const emitted = new Set<string>();
  const rows: RunRow[] = [];
  if (limit <= 0) return rows;
  for await (const e of store.scanBackward()) {
    const runId = typeof e.run_id === "string" ? e.run_id : null;
    if (!runId) continue;
    if (e.event === "run_finished") {
      if (!finished.has(runId)) finished.set(runId, e);
      continue;
    }
    if (e.event !== "run_started" && e.event !== "schedule_enqueued") continue;
    if (emitted.has(runId)) continue;
    emitted.add(runId);
    const row = toRow(e, finished.get(runId));
    if (options.scheduleId !== undefined && row.schedule_id !== options.scheduleId) continue;
    if (options.status !== undefined && row.status !== options.status) continue;
    rows.push(row);
    if (rows.length >= limit) break;
  }
  return rows;
}

function toRow(start: StoredEvent, end: StoredEvent | undefined): RunRow {
  const str = (v: unknown) => (typeof v === "string" ? v : null);
  const queued = start.event === "schedule_enqueued";
  return {
    run_id: String(start.run_id),
    schedule_id: str(start.schedule_id),
    dag_name: str(start.dag_name) ?? str(end?.dag_name) ?? str(start.dag) ?? "",
    status: (str(end?.status) ?? (queued ? "queued" : "running")) as RunRowStatus,
    trigger: str(start.trigger) ?? (queued ? "schedule" : null),
    started: start.timestamp,
    finished: end ? end.timestamp : null,
    duration_s: typeof end?.duration_s === "number" ? end.duration_s : null,
    retry_of: str(start.retry_of),
    reason: str(end?.reason) || null,
    dag: str(start.dag),
  };
}

/**
 * Finds a run's `run_started` event (reading backwards).
 * @param store The state store.
 * @param runId The run.
 * @returns Its `run_started` and, if recorded, `run_finished`; `null` when unknown.
 */
export async function findRun(
  store: StateStore,
  runId: string,
): Promise<{ started: StoredEvent; finished?: StoredEvent } | null> {
  let finished: StoredEvent | undefined;
  for await (const e of store.scanBackward()) {
    if (e.run_id !== runId) continue;
    if (e.event === "run_finished") finished ??= e;
    if (e.event === "run_started") return { started: e, finished };
  }
  return null;
}
