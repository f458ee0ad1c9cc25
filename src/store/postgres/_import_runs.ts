import { FINAL, instant, int, text } from "./_run_rows.ts";

/** A `runs` row rebuilt from state events, as `mirrorRuns` would have written it. */
export interface RunRow {
  run_id: string;
  dag_name: string;
  dag_file: string | null;
  schedule_id: string | null;
  minute_utc: string | null;
  tenant_id: string | null;
  trigger: string | null;
  retry_of: string | null;
  status: string;
  started: string | null;
  finished: string | null;
  host: string | null;
  pid: number | null;
  body: string;
}

type Line = Record<string, unknown>;

/**
 * Folds state events into `runs` rows with the rules of `mirrorRuns` (which writes them
 * one statement per event while orch runs): `schedule_enqueued` makes a `queued` row,
 * `run_started` sets the run's fields and `running`, `run_finished` its final status
 * and time. Host and pid come from the first event that created the row. The heartbeat
 * stays empty: a run the logs leave unfinished is judged by recovery like any run
 * without a heartbeat (interrupted once its process is gone).
 *
 * Pure; one call per event, in log order.
 * @param rows The rows so far, by run id (updated in place).
 * @param e A state event.
 */
export function foldRunRow(rows: Map<string, RunRow>, e: Line): void {
  const runId = text(e.run_id);
  if (!runId) return;
  if (e.event !== "schedule_enqueued" && e.event !== "run_started" && e.event !== "run_finished") {
    return;
  }
  const dagName = text(e.dag_name) ?? text(e.dag) ?? "";
  let row = rows.get(runId);
  if (!row) {
    row = {
      run_id: runId,
      dag_name: dagName,
      dag_file: null,
      schedule_id: null,
      minute_utc: null,
      tenant_id: null,
      trigger: null,
      retry_of: null,
      status: "queued",
      started: null,
      finished: null,
      host: e.event === "run_finished" ? null : text(e.host),
      pid: e.event === "run_finished" ? null : int(e.pid),
      body: "{}",
    };
    rows.set(runId, row);
  }
  if (e.event === "schedule_enqueued") {
    Object.assign(row, {
      dag_name: dagName,
      dag_file: text(e.dag),
      schedule_id: text(e.schedule_id),
      minute_utc: instant(e.minute_utc),
      tenant_id: text(e.tenant),
      trigger: "schedule",
      body: JSON.stringify(e),
    });
  } else if (e.event === "run_started") {
    Object.assign(row, {
      dag_name: dagName,
      dag_file: text(e.dag),
      schedule_id: text(e.schedule_id),
      tenant_id: text(e.tenant_id),
      trigger: text(e.trigger),
      retry_of: text(e.retry_of),
      status: "running",
      started: instant(e.timestamp),
      body: JSON.stringify(e),
    });
  } else {
    row.status = FINAL.has(String(e.status)) ? String(e.status) : "failed";
    row.finished = instant(e.timestamp);
  }
}
