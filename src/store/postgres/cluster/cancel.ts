import type { ClusterDb } from "./submit.ts";
import { insertEvents, runEvent } from "./_events.ts";
import { countDown, type Finished, readRuns } from "./_finish.ts";
import { withRetry } from "./_retry.ts";

/**
 * Cancels a cluster run everywhere, in one transaction: its queued attempts are
 * dropped, pending and queued tasks skipped (reason `cancelled`), running attempts
 * failed with `CancelledError` (their workers abort them, through `ctx.signal`, when
 * their next heartbeat finds the row no longer `running`; a late result is ignored),
 * and the run recorded `cancelled` (`dag_done`, `run_finished`).
 * @param db The cluster database.
 * @param runId The run.
 * @param reason Why (recorded in `run_finished` and the attempts' errors).
 * @returns The run's end, or null when it was not running.
 */
export async function cancelClusterRun(
  db: ClusterDb,
  runId: string,
  reason: string,
): Promise<Finished | null> {
  return await withRetry(() =>
    db.sql.begin(async (sql) => {
      // Locks in the cluster's order: queue rows, task rows (by idx), the run's row last.
      const run = (await readRuns(sql, [runId])).get(runId);
      if (!run) return null;
      const error = JSON.stringify({ error: { name: "CancelledError", message: reason } });
      // A task runs when its attempt is claimed (`run_tasks` says `queued` meanwhile;
      // `running` only in rows claimed before migration 6).
      const attempts = await sql<
        { idx: number; attempt: number; started: Date | null; claimed: boolean }[]
      >`
        update task_queue set state = 'failed', error = ${error}::text::jsonb, heartbeat = now()
        where run_id = ${runId} and state in ('queued', 'running')
        returning idx, attempt, claimed_at as started, claimed_by is not null as claimed`;
      const running = attempts.filter((a) => a.claimed).map((a) => a.idx);
      const tasks = await sql<{ idx: number; task_id: string; state: string }[]>`
        update run_tasks t set finished = now(),
          state = case when t.idx = any(${running}::int[]) then 'failed' else 'skipped' end,
          error = case when t.idx = any(${running}::int[])
            then 'Task ''' || t.task_id || ''' was cancelled: ' || ${reason} end
        from (select idx from run_tasks where run_id = ${runId}
          and state in ('pending', 'queued', 'running') order by idx for update) old
        where t.run_id = ${runId} and t.idx = old.idx
        returning t.idx, t.task_id, t.state`;
      const tag = { run_id: runId, dag_name: run.spec.dag_name, tenant_id: run.spec.tenant_id };
      const now = Date.now();
      const byIdx = new Map(attempts.map((a) => [a.idx, a]));
      const events = tasks.sort((a, b) => a.idx - b.idx).map((t) => {
        if (t.state === "skipped") {
          return runEvent(tag, now, {
            event: "task_skipped",
            task_id: t.task_id,
            attempt: 0,
            reason: "cancelled",
            upstream: "",
          });
        }
        const a = byIdx.get(t.idx);
        const started = a?.started?.getTime() ?? now;
        return runEvent(tag, now, {
          event: "task_fail",
          task_id: t.task_id,
          attempt: a?.attempt ?? 1,
          error: reason,
          error_name: "CancelledError",
          duration_s: Math.round(now - started) / 1000,
          will_retry: false,
        });
      });
      // Attempts queued by completions that committed meanwhile (their tasks are skipped).
      await sql`update task_queue set state = 'failed', error = ${error}::text::jsonb
        where run_id = ${runId} and state = 'queued'`;
      await insertEvents(sql, events);
      return await countDown(sql, {
        runId,
        decided: tasks.length,
        schema: db.schema,
        cancelled: reason,
      });
    })
  );
}
