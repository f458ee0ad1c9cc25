import type { PlainError } from "../../../lib/errors.ts";
import { nextDelay } from "../../../run/backoff.ts";
import { isoTimestamp } from "../../../lib/iso_time.ts";
import { EVENT_SCHEMA_VERSION } from "../../events.ts";
import type { TransactionSql } from "../connect.ts";
import {
  EventText,
  insertEvents,
  notifyAll,
  PROGRESS_CHANNEL,
  QUEUED_CHANNEL,
  runEvent,
} from "./_events.ts";
import { countDown, type Finished } from "./_finish.ts";
import type { LockedRun } from "./_run_spec.ts";

/** How one claimed attempt ended, as the completing transaction sees it. */
export type AttemptEnd =
  & {
    runId: string;
    idx: number;
    taskId: string;
    attempt: number;
    startedAt: number;
    endedAt: number;
  }
  & (
    | { ok: true; outputJson: string }
    | { ok: false; error: PlainError; cancelled?: boolean; lost?: boolean }
  );

/**
 * Applies the ends of attempts that were still `running` (their queue rows already
 * updated by the caller) to their runs, whose rows the caller locked: successes store
 * the output, count down their dependants' `waiting` and queue those that reach 0 (one
 * statement for all); failures queue the next attempt after the backoff delay, or fail
 * the task and skip its pending descendants; every decided task counts the run's
 * `remaining` down, and the run ends when it reaches 0. Events as the local executor
 * writes them. Same transaction throughout: readiness is decided where outcomes land.
 * @param sql The transaction.
 * @param runs The locked rows of the runs still running.
 * @param ends The attempts' ends (ends of runs not in `runs` are ignored).
 * @param schema The store's schema (for `run_finished`).
 * @returns The runs this transaction ended.
 */
export async function settleAttempts(
  sql: TransactionSql,
  runs: Map<string, LockedRun>,
  ends: readonly AttemptEnd[],
  schema: string,
): Promise<Finished[]> {
  const live = ends.filter((e) => runs.has(e.runId));
  if (live.length === 0) return [];
  const decided = new Map<string, number>();
  const bump = (runId: string, k: number) => decided.set(runId, (decided.get(runId) ?? 0) + k);
  const events: (Record<string, unknown> | EventText)[] = [];
  const queued = new Set<string>();
  // Failures first, one by one (rare; each reads its task's retry policy).
  for (const e of live) {
    if (e.ok) continue;
    const r = await fail(sql, runs.get(e.runId)!, e, events);
    bump(e.runId, r.decided);
    if (r.queued) queued.add(e.runId);
  }
  const ok = live.filter((e) => e.ok) as (AttemptEnd & { ok: true })[];
  for (const e of ok) {
    events.push(taskOkText(e, runs.get(e.runId)!));
    bump(e.runId, 1);
    queued.add(e.runId); // may have made dependants ready; a spare notification is harmless
  }
  // The rest is sent at once (pipelined on the transaction's connection, run in order):
  // the counts of an ending run are read after the outputs and readiness are written.
  const order = [...decided].sort(([a], [b]) => (a < b ? -1 : 1));
  const [, , ...ended] = await Promise.all([
    ok.length > 0 ? succeed(sql, ok) : null,
    insertEvents(sql, events),
    ...order.map(([runId, k]) => countDown(sql, { run: runs.get(runId)!, decided: k, schema })),
    notifyAll(sql, QUEUED_CHANNEL, queued),
    notifyAll(sql, PROGRESS_CHANNEL, decided.keys()),
  ]);
  return ended.filter((f): f is Finished => f !== null && f !== undefined);
}

/** Stores outputs, counts dependants down, queues the ready ones. */
async function succeed(
  sql: TransactionSql,
  ok: readonly (AttemptEnd & { ok: true })[],
): Promise<void> {
  await sql`
    with s as (
      select * from unnest(${ok.map((e) => e.runId)}::text[], ${ok.map((e) => e.idx)}::int[],
        ${ok.map((e) => e.outputJson)}::text[]) as s(run_id, idx, output)
    ), done as (
      update run_tasks t set state = 'success', output = s.output::jsonb, finished = now()
      from s where t.run_id = s.run_id and t.idx = s.idx and t.state = 'running'
      returning t.run_id, t.idx
    ), counts as (
      select e.run_id, e.down_idx, count(*)::int as n
      from run_edges e join done d on e.run_id = d.run_id and e.up_idx = d.idx
      group by e.run_id, e.down_idx
    ), ready as (
      update run_tasks t set waiting = t.waiting - c.n,
        state = case when t.waiting = c.n and t.state = 'pending' then 'queued' else t.state end,
        attempts = case when t.waiting = c.n and t.state = 'pending' then 1 else t.attempts end
      from counts c where t.run_id = c.run_id and t.idx = c.down_idx
      returning t.run_id, t.idx, t.task_id, t.state, t.waiting
    )
    insert into task_queue (run_id, idx, task_id, attempt)
    select run_id, idx, task_id, 1 from ready where state = 'queued' and waiting = 0
    order by run_id, idx`;
}

/**
 * A failed attempt: the next attempt after the backoff delay, or the task failed and
 * its pending descendants skipped.
 * @returns Tasks decided, and whether an attempt was queued.
 */
async function fail(
  sql: TransactionSql,
  run: LockedRun,
  e: AttemptEnd & { ok: false },
  events: (Record<string, unknown> | EventText)[],
): Promise<{ decided: number; queued: boolean }> {
  const tag = { run_id: run.run_id, dag_name: run.spec.dag_name, tenant_id: run.spec.tenant_id };
  const [task] = await sql<{ retries: number; retry_delay_s: number }[]>`
    select (spec->>'retries')::int as retries, (spec->>'retry_delay_s')::float8 as retry_delay_s
    from run_tasks where run_id = ${e.runId} and idx = ${e.idx}`;
  const cancelled = e.cancelled === true;
  const willRetry = !cancelled && e.attempt <= task.retries;
  const lost = e.lost ? { reason: "worker_lost" } : {};
  events.push(runEvent(tag, e.endedAt, {
    event: "task_fail",
    task_id: e.taskId,
    attempt: e.attempt,
    error: e.error.message,
    error_name: e.error.name,
    duration_s: round3((e.endedAt - e.startedAt) / 1000),
    will_retry: willRetry,
    ...lost,
  }));
  if (willRetry) {
    const delayS = round3(nextDelay(e.attempt, {
      baseS: task.retry_delay_s,
      capS: run.spec.max_delay_s,
    }));
    events.push(runEvent(tag, Date.now(), {
      event: "task_retry",
      task_id: e.taskId,
      attempt: e.attempt + 1,
      delay_s: delayS,
      ...lost,
    }));
    await sql`update run_tasks set state = 'queued', attempts = ${e.attempt + 1}
      where run_id = ${e.runId} and idx = ${e.idx}`;
    await sql`insert into task_queue (run_id, idx, task_id, attempt, not_before)
      values (${e.runId}, ${e.idx}, ${e.taskId}, ${e.attempt + 1},
        now() + make_interval(secs => ${delayS}))`;
    return { decided: 0, queued: true };
  }
  const n = e.attempt;
  const message = cancelled
    ? `Task '${e.taskId}' was cancelled: ${e.error.message}`
    : `Task '${e.taskId}' failed after ${n} attempt${n === 1 ? "" : "s"}: ${e.error.message}`;
  await sql`update run_tasks set state = 'failed', error = ${message}, finished = now()
    where run_id = ${e.runId} and idx = ${e.idx}`;
  const skipped = await skipDescendants(sql, e.runId, e.idx);
  const at = Date.now();
  for (const s of skipped) {
    events.push(runEvent(tag, at, {
      event: "task_skipped",
      task_id: s.task_id,
      attempt: 0,
      reason: "upstream_failed",
      upstream: e.taskId,
    }));
  }
  return { decided: 1 + skipped.length, queued: false };
}

/**
 * Marks the pending descendants of a failed task `skipped` (every descendant of a
 * failed task is still pending or already skipped: each needs it, transitively).
 * @returns The tasks skipped, in index order.
 */
export async function skipDescendants(
  sql: TransactionSql,
  runId: string,
  idx: number,
): Promise<{ idx: number; task_id: string }[]> {
  return await sql<{ idx: number; task_id: string }[]>`
    with recursive d(idx) as (
      select down_idx from run_edges where run_id = ${runId} and up_idx = ${idx}
      union
      select e.down_idx from run_edges e join d on e.up_idx = d.idx where e.run_id = ${runId}
    ), s as (
      update run_tasks t set state = 'skipped', finished = now()
      from (select distinct idx from d) d
      where t.run_id = ${runId} and t.idx = d.idx and t.state = 'pending'
      returning t.idx, t.task_id
    )
    select idx, task_id from s order by idx`;
}

/** `task_ok` as the local executor writes it, embedding the worker's output text. */
function taskOkText(e: AttemptEnd & { ok: true }, run: LockedRun): EventText {
  const timestamp = isoTimestamp(e.endedAt);
  const text = `{"timestamp":"${timestamp}","event":"task_ok","task_id":${
    JSON.stringify(e.taskId)
  },"attempt":${e.attempt},"duration_s":${
    JSON.stringify(round3((e.endedAt - e.startedAt) / 1000))
  },"output":${e.outputJson},"run_id":${JSON.stringify(run.run_id)},"dag_name":${
    JSON.stringify(run.spec.dag_name)
  },"tenant_id":${JSON.stringify(run.spec.tenant_id)},"v":${EVENT_SCHEMA_VERSION}}`;
  return new EventText(run.run_id, "task_ok", timestamp, text);
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
