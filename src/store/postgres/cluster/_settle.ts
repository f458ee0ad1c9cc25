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
  type RunTag,
} from "./_events.ts";
import { countDown, type Finished } from "./_finish.ts";
import type { RunRow } from "./_run_spec.ts";

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
 * updated by the caller, which holds those rows): successes store the output, count
 * down their dependants' `waiting` and queue those that reach 0 (one statement for all);
 * failures queue the next attempt after the backoff delay, or fail the task and skip
 * its pending descendants; every decided task counts the run's `remaining` down, and the
 * run ends when it reaches 0. Events as the local executor writes them. One transaction:
 * readiness is decided where outcomes land.
 *
 * Locks, in the order every cluster transaction takes them (so they never deadlock):
 * the attempts' queue rows (caller), then the `run_tasks` rows this will change
 * (dependants and descendants, in `(run_id, idx)` order, one statement; the attempts'
 * own task rows are held by nobody else), then each run's `runs` row, last and only
 * until commit (the `remaining` decrement). Statements are pipelined where they do not
 * depend on each other's results.
 * @param sql The transaction.
 * @param runs The runs still running (ends of other runs are ignored).
 * @param ends The attempts' ends.
 * @param schema The store's schema (for `run_finished`).
 * @returns The runs this transaction ended.
 */
export async function settleAttempts(
  sql: TransactionSql,
  runs: Map<string, RunRow>,
  ends: readonly AttemptEnd[],
  schema: string,
): Promise<Finished[]> {
  const live = ends.filter((e) => runs.has(e.runId));
  if (live.length === 0) return [];
  const ok = live.filter((e) => e.ok) as OkEnd[];
  const { retries, finals } = await decideFailures(sql, runs, live);
  const events: (Record<string, unknown> | EventText)[] = [];
  const decided = new Map<string, number>();
  const bump = (runId: string, k: number) => decided.set(runId, (decided.get(runId) ?? 0) + k);
  const queued = new Set<string>();
  for (const f of finals) bump(f.end.runId, 1);
  for (const r of retries) queued.add(r.end.runId);
  for (const e of ok) bump(e.runId, 1);
  // Sent in this order (the lock first), run in order on the transaction's connection.
  const writes = [
    lockAffected(sql, ok, finals.map((f) => f.end)),
    ok.length > 0 ? succeed(sql, ok) : null,
    ...retries.map((r) => retry(sql, r)),
    finals.length > 0 ? failTasks(sql, finals) : null,
  ];
  const skipping = finals.length > 0
    ? skipDescendants(sql, finals.map((f) => f.end))
    : Promise.resolve([]);
  const [, skips] = await Promise.all([Promise.all(writes), skipping]);
  for (const f of finals) events.push(...f.events);
  for (const r of retries) events.push(...r.events);
  for (const e of ok) {
    events.push(taskOkText(e, runs.get(e.runId)!));
    queued.add(e.runId); // may have made dependants ready; a spare notification is harmless
  }
  const at = Date.now();
  for (const k of skips) {
    const run = runs.get(k.run_id)!;
    bump(k.run_id, 1);
    events.push(runEvent(tagOf(run), at, {
      event: "task_skipped",
      task_id: k.task_id,
      attempt: 0,
      reason: "upstream_failed",
      upstream: k.upstream,
    }));
  }
  const order = [...decided].sort(([a], [b]) => (a < b ? -1 : 1));
  const [, , , ...ended] = await Promise.all([
    insertEvents(sql, events),
    notifyAll(sql, QUEUED_CHANNEL, queued),
    notifyAll(sql, PROGRESS_CHANNEL, decided.keys()),
    ...order.map(([runId, k]) => countDown(sql, { runId, decided: k, schema })),
  ]);
  return ended.filter((f): f is Finished => f !== null);
}

type OkEnd = AttemptEnd & { ok: true };
type FailEnd = AttemptEnd & { ok: false };
type Skip = { run_id: string; idx: number; task_id: string; upstream: string };

/** A failed attempt, decided: its events, and the delay before the next attempt. */
interface Decided {
  end: FailEnd;
  events: Record<string, unknown>[];
  delayS: number;
  message: string;
}

/** Reads the failing tasks' retry policies and decides: retry, or fail for good. */
async function decideFailures(
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

/**
 * Locks, in `(run_id, idx)` order, the task rows the settling will change besides the
 * attempts' own: direct dependants of the successes and every descendant of the tasks
 * that failed for good.
 */
async function lockAffected(
  sql: TransactionSql,
  ok: readonly OkEnd[],
  failed: readonly FailEnd[],
): Promise<void> {
  if (ok.length === 0 && failed.length === 0) return;
  await sql`
    with recursive f(run_id, idx) as (
      select * from unnest(${failed.map((e) => e.runId)}::text[],
        ${failed.map((e) => e.idx)}::int[])
    ), d(run_id, idx) as (
      select e.run_id, e.down_idx from run_edges e join f
        on e.run_id = f.run_id and e.up_idx = f.idx
      union
      select e.run_id, e.down_idx from run_edges e join d
        on e.run_id = d.run_id and e.up_idx = d.idx
    ), s(run_id, idx) as (
      select * from unnest(${ok.map((e) => e.runId)}::text[], ${ok.map((e) => e.idx)}::int[])
    ), k as (
      select e.run_id, e.down_idx as idx from run_edges e join s
        on e.run_id = s.run_id and e.up_idx = s.idx
      union
      select run_id, idx from d
    )
    select t.run_id, t.idx from run_tasks t join k on t.run_id = k.run_id and t.idx = k.idx
    order by t.run_id, t.idx for update of t`;
}

/** Stores outputs, counts dependants down, queues the ready ones. */
async function succeed(sql: TransactionSql, ok: readonly OkEnd[]): Promise<void> {
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

/** Queues the next attempt of a task after its backoff delay. */
async function retry(sql: TransactionSql, r: Decided): Promise<void> {
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
async function failTasks(sql: TransactionSql, finals: readonly Decided[]): Promise<void> {
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
      select e.run_id, e.down_idx, u.task_id from run_edges e
        join unnest(${failed.map((f) => f.runId)}::text[], ${failed.map((f) => f.idx)}::int[],
          ${failed.map((f) => f.taskId)}::text[]) as u(run_id, idx, task_id)
        on e.run_id = u.run_id and e.up_idx = u.idx
      union
      select e.run_id, e.down_idx, d.upstream from run_edges e join d
        on e.run_id = d.run_id and e.up_idx = d.idx
    ), one as (
      select distinct on (run_id, idx) run_id, idx, upstream from d order by run_id, idx, upstream
    ), s as (
      update run_tasks t set state = 'skipped', finished = now()
      from one where t.run_id = one.run_id and t.idx = one.idx and t.state = 'pending'
      returning t.run_id, t.idx, t.task_id, one.upstream
    )
    select run_id, idx, task_id, upstream from s order by run_id, idx`;
}

function tagOf(run: RunRow): RunTag {
  return { run_id: run.run_id, dag_name: run.spec.dag_name, tenant_id: run.spec.tenant_id };
}

/** `task_ok` as the local executor writes it, embedding the worker's output text. */
function taskOkText(e: OkEnd, run: RunRow): EventText {
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
