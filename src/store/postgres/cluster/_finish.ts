import type { RunStatus } from "../../events.ts";
import type { TransactionSql } from "../connect.ts";
import {
  appendStateEvents,
  insertEvents,
  notifyAll,
  PROGRESS_CHANNEL,
  runEvent,
} from "./_events.ts";
import type { ClusterRunSpec, LockedRun } from "./_run_spec.ts";

/** Runs that ended in a transaction, to announce after it commits. */
export type Finished = { runId: string; status: RunStatus };

/**
 * Locks the `runs` rows of cluster runs, in run id order (every cluster transaction
 * locks runs first, in this order, so they never deadlock on each other).
 * @param sql The transaction.
 * @param runIds The runs.
 * @returns The rows of those still running.
 */
export async function lockRuns(
  sql: TransactionSql,
  runIds: Iterable<string>,
): Promise<Map<string, LockedRun>> {
  const ids = [...new Set(runIds)].sort();
  if (ids.length === 0) return new Map();
  const rows = await sql<LockedRun[]>`
    select run_id, status, remaining, spec,
      extract(epoch from (now() - coalesce(started, now())))::float8 as age_s
    from runs where run_id = any(${ids}::text[]) and mode = 'cluster'
    order by run_id for no key update`;
  return new Map(rows.filter((r) => r.status === "running").map((r) => [r.run_id, r]));
}

/**
 * Subtracts tasks that reached a final state from the run's `remaining`; the
 * transaction that takes it to 0 ends the run: `dag_done` (task counts from
 * `run_tasks`), `run_finished`, `runs.status`, and a progress notification.
 * @param sql The transaction.
 * @param options The locked run, the number of tasks decided, the schema, and the
 *   status to end with when the run was cancelled.
 * @returns The run's end when this call ended it, else null.
 */
export async function countDown(
  sql: TransactionSql,
  options: { run: LockedRun; decided: number; schema: string; cancelled?: string },
): Promise<Finished | null> {
  const { run } = options;
  run.remaining -= options.decided;
  await sql`update runs set remaining = ${run.remaining} where run_id = ${run.run_id}`;
  if (run.remaining > 0 && options.cancelled === undefined) return null;
  return await finishRun(sql, run, options.schema, options.cancelled);
}

async function finishRun(
  sql: TransactionSql,
  run: LockedRun,
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
