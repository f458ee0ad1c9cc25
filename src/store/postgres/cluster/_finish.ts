import type { RunStatus } from "../../events.ts";
import type { TransactionSql } from "../connect.ts";
import {
  appendStateEvents,
  insertEvents,
  notifyAll,
  PROGRESS_CHANNEL,
  runEvent,
} from "./_events.ts";
import type { ClusterRunSpec, RunRow } from "./_run_spec.ts";

/** Runs that ended in a transaction, to announce after it commits. */
export type Finished = { runId: string; status: RunStatus };

/**
 * Reads the `runs` rows of cluster runs (no lock: `spec` never changes, and the status
 * is checked again by {@link countDown}'s update).
 * @param sql The transaction.
 * @param runIds The runs.
 * @returns The rows of those still running.
 */
export async function readRuns(
  sql: TransactionSql,
  runIds: Iterable<string>,
): Promise<Map<string, RunRow>> {
  const ids = [...new Set(runIds)];
  if (ids.length === 0) return new Map();
  const rows = await sql<RunRow[]>`
    select run_id, status, remaining, spec, 0::float8 as age_s
    from runs where run_id = any(${ids}::text[]) and mode = 'cluster' and status = 'running'`;
  return new Map(rows.map((r) => [r.run_id, r]));
}

/**
 * Subtracts tasks that reached a final state from the run's `remaining` (an atomic
 * decrement: the `runs` row lock it takes is every cluster transaction's last lock, held
 * only until commit); the transaction that takes it to 0 ends the run: `dag_done` (task
 * counts from `run_tasks`), `run_finished`, `runs.status`, and a progress notification.
 * Every other transaction that counted the run down committed before (they held the
 * row), so `dag_done` follows all of the run's events.
 * @param sql The transaction.
 * @param options The run, the number of tasks decided, the schema, and the reason when
 *   the run is being cancelled (it then ends now).
 * @returns The run's end when this call ended it, else null (also when the run is no
 *   longer running).
 */
export async function countDown(
  sql: TransactionSql,
  options: { runId: string; decided: number; schema: string; cancelled?: string },
): Promise<Finished | null> {
  const [run] = await sql<RunRow[]>`
    update runs set remaining = remaining - ${options.decided}
    where run_id = ${options.runId} and status = 'running'
    returning run_id, status, remaining, spec,
      extract(epoch from (now() - coalesce(started, now())))::float8 as age_s`;
  if (!run) return null;
  if (run.remaining > 0 && options.cancelled === undefined) return null;
  return await finishRun(sql, run, options.schema, options.cancelled);
}

async function finishRun(
  sql: TransactionSql,
  run: RunRow,
  schema: string,
  cancelled: string | undefined,
): Promise<Finished> {
  const [c] = await sql<{ success: number; failed: number; skipped: number }[]>`
    select count(*) filter (where state = 'success')::int as success,
      count(*) filter (where state = 'failed')::int as failed,
      count(*) filter (where state = 'skipped')::int as skipped
    from run_tasks where run_id = ${run.run_id}`;
  const status: RunStatus = cancelled !== undefined
    ? "cancelled"
    : c.failed + c.skipped > 0
    ? "failed"
    : "success";
  const spec: ClusterRunSpec = run.spec;
  const tag = { run_id: run.run_id, dag_name: spec.dag_name, tenant_id: spec.tenant_id };
  const durationS = Math.round(run.age_s * 1000) / 1000;
  await insertEvents(sql, [
    runEvent(tag, Date.now(), {
      event: "dag_done",
      status,
      tasks_succeeded: c.success,
      tasks_failed: c.failed,
      tasks_skipped: c.skipped,
      duration_s: durationS,
    }),
  ]);
  await appendStateEvents(sql, schema, [{
    event: "run_finished",
    run_id: run.run_id,
    ...(spec.schedule_id ? { schedule_id: spec.schedule_id } : {}),
    dag_name: spec.dag_name,
    status,
    duration_s: durationS,
    tasks_succeeded: c.success,
    tasks_failed: c.failed,
    tasks_skipped: c.skipped,
    ...(cancelled !== undefined ? { reason: cancelled } : {}),
  }]);
  await sql`update runs set status = ${status}, finished = now(), remaining = 0
    where run_id = ${run.run_id}`;
  run.status = status;
  await notifyAll(sql, PROGRESS_CHANNEL, [run.run_id]);
  return { runId: run.run_id, status };
}
