import type { StoredEvent } from "../store/state_events.ts";
import type { StateStoreLike } from "../store/store.ts";

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
  /**
   * Set (to `no_worker`) by `orch runs` on PostgreSQL for a running cluster run that has
   * queued attempts while no `orch worker` is alive; absent otherwise.
   */
  waiting?: "no_worker";
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
  store: StateStoreLike,
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
 * Finds a run's `run_started` event (reading backwards), and the retries of it since.
 * @param store The state store.
 * @param runId The run.
 * @returns Its `run_started`, its `run_finished` if recorded, and the run ids and
 *   statuses of the runs started as its retries; `null` when unknown.
 */
export async function findRun(
  store: StateStoreLike,
  runId: string,
): Promise<
  | { started: StoredEvent; finished?: StoredEvent; retries: { runId: string; status: string }[] }
  | null
> {
  const ends = new Map<string, string>();
  const retries: { runId: string; status: string }[] = [];
  for await (const e of store.scanBackward()) {
    const id = typeof e.run_id === "string" ? e.run_id : "";
    if (e.event === "run_finished" && !ends.has(id)) ends.set(id, String(e.status));
    if (e.event !== "run_started") continue;
    if (e.retry_of === runId) retries.push({ runId: id, status: ends.get(id) ?? "running" });
    if (id !== runId) continue;
    const finished = ends.has(id) ? await findFinished(store, id) : undefined;
    return { started: e, finished, retries };
  }
  return null;
}

async function findFinished(
  store: StateStoreLike,
  runId: string,
): Promise<StoredEvent | undefined> {
  for await (const e of store.scanBackward()) {
    if (e.run_id === runId && e.event === "run_finished") return e;
  }
  return undefined;
}
