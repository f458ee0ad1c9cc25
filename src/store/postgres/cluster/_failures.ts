import { nextDelay } from "../../../run/backoff.ts";
import type { TransactionSql } from "../connect.ts";
import { runEvent, type RunTag } from "./_events.ts";
import type { RunRow } from "./_run_spec.ts";
import type { AttemptEnd } from "./_settle.ts";

/** A failed attempt's end. */
export type FailEnd = AttemptEnd & { ok: false };
/** A task skipped because `upstream` failed. */
export type Skip = { run_id: string; idx: number; task_id: string; upstream: string };

/** A failed attempt, decided: its events, and the delay before the next attempt. */
export interface Decided {
  end: FailEnd;
  events: Record<string, unknown>[];
  delayS: number;
  message: string;
}

/** Reads the failing tasks' retry policies and decides: retry, or fail for good. */
export async function decideFailures(
  sql: TransactionSql,
  runs: Map<string, RunRow>,
  live: readonly AttemptEnd[],
): Promise<{ retries: Decided[]; finals: Decided[] }> {
  const failing = live.filter((e) => !e.ok) as FailEnd[];
  if (failing.length === 0) return { retries: [], finals: [] };
  const rows = await sql<{ run_id: string; idx: number; retries: number; delay: number }[]>`
    select t.run_id, t.idx, (t.spec->>'retries')::int as retries,
      (t.spec->>'retry_delay_s')::float8 as delay
    from run_tasks t join unnest(${failing.map((e) => e.runId)}::text[],
      ${failing.map((e) => e.idx)}::int[]) as u(run_id, idx)
      on t.run_id = u.run_id and t.idx = u.idx`;
  const policy = new Map(rows.map((r) => [`${r.run_id} ${r.idx}`, r]));
  const retries: Decided[] = [];
  const finals: Decided[] = [];
  for (const e of failing) {
    const run = runs.get(e.runId)!;
    const p = policy.get(`${e.runId} ${e.idx}`)!;
    const willRetry = e.cancelled !== true && e.attempt <= p.retries;
    const lost = e.lost ? { reason: "worker_lost" } : {};
    const events = [runEvent(tagOf(run), e.endedAt, {
      event: "task_fail",
      task_id: e.taskId,
      attempt: e.attempt,
      error: e.error.message,
      error_name: e.error.name,
      duration_s: round3((e.endedAt - e.startedAt) / 1000),
      will_retry: willRetry,
      ...lost,
    })];
    if (willRetry) {
      const delayS = round3(nextDelay(e.attempt, { baseS: p.delay, capS: run.spec.max_delay_s }));
      events.push(runEvent(tagOf(run), Date.now(), {
        event: "task_retry",
        task_id: e.taskId,
        attempt: e.attempt + 1,
        delay_s: delayS,
        ...lost,
      }));
      retries.push({ end: e, events, delayS, message: "" });
      continue;
    }
    const n = e.attempt;
    const message = e.cancelled
      ? `Task '${e.taskId}' was cancelled: ${e.error.message}`
      : `Task '${e.taskId}' failed after ${n} attempt${n === 1 ? "" : "s"}: ${e.error.message}`;
    finals.push({ end: e, events, delayS: 0, message });
  }
  return { retries, finals };
}

/** Queues the next attempt of a task after its backoff delay. */
export async function retry(sql: TransactionSql, r: Decided): Promise<void> {
  const e = r.end;
  await sql`
    with t as (
      update run_tasks set state = 'queued', attempts = ${e.attempt + 1}
      where run_id = ${e.runId} and idx = ${e.idx}
    )
    insert into task_queue (run_id, idx, task_id, attempt, not_before)
    values (${e.runId}, ${e.idx}, ${e.taskId}, ${e.attempt + 1},
      now() + make_interval(secs => ${r.delayS}))`;
}

/** Marks tasks failed for good, with their final error messages. */
export async function failTasks(sql: TransactionSql, finals: readonly Decided[]): Promise<void> {
  await sql`
    update run_tasks t set state = 'failed', error = u.message, finished = now()
    from unnest(${finals.map((f) => f.end.runId)}::text[], ${finals.map((f) => f.end.idx)}::int[],
      ${finals.map((f) => f.message)}::text[]) as u(run_id, idx, message)
    where t.run_id = u.run_id and t.idx = u.idx`;
}

/**
 * Marks the pending descendants of tasks that failed for good `skipped` (every
 * descendant of a failed task is still pending or already skipped: each needs it,
 * transitively). `upstream` names one failed ancestor.
 * @returns The tasks skipped, in `(run_id, idx)` order.
 */
export async function skipDescendants(
  sql: TransactionSql,
  failed: readonly { runId: string; idx: number; taskId: string }[],
): Promise<Skip[]> {
  return await sql<Skip[]>`
    with recursive d(run_id, idx, upstream) as (
      select u.run_id, x.idx, u.task_id
      from unnest(${failed.map((f) => f.runId)}::text[], ${failed.map((f) => f.idx)}::int[],
          ${failed.map((f) => f.taskId)}::text[]) as u(run_id, idx, task_id)
        join run_tasks t on t.run_id = u.run_id and t.idx = u.idx
        cross join unnest(t.downs) as x(idx)
      union
      select d.run_id, x.idx, d.upstream from d
        join run_tasks t on t.run_id = d.run_id and t.idx = d.idx
        cross join unnest(t.downs) as x(idx)
    ), one as (
      select distinct on (run_id, idx) run_id, idx, upstream from d order by run_id, idx, upstream
    ), s as (
      update run_tasks t set state = 'skipped', finished = now()
      from one where t.run_id = one.run_id and t.idx = one.idx and t.state = 'pending'
      returning t.run_id, t.idx, t.task_id, one.upstream
    )
    select run_id, idx, task_id, upstream from s order by run_id, idx`;
}

/**
 * @param run A run row.
 * @returns The fields every event of the run ends with.
 */
export function tagOf(run: RunRow): RunTag {
  return { run_id: run.run_id, dag_name: run.spec.dag_name, tenant_id: run.spec.tenant_id };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
