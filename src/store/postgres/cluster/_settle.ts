import type { PlainError } from "../../../lib/errors.ts";
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
import {
  type Decided,
  decideFailures,
  type FailEnd,
  failTasks,
  retry,
  type Skip,
  skipDescendants,
  tagOf,
} from "./_failures.ts";
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
 * @param beforeCountDown A statement sent after the settling's writes and before the
 *   `runs` rows are counted down (so it takes no lock after theirs), e.g. the settling
 *   worker's next claim; run even when nothing is settled.
 * @returns The runs this transaction ended.
 */
export async function settleAttempts(
  sql: TransactionSql,
  runs: Map<string, RunRow>,
  ends: readonly AttemptEnd[],
  schema: string,
  beforeCountDown?: () => Promise<unknown>,
): Promise<Finished[]> {
  const live = ends.filter((e) => runs.has(e.runId));
  if (live.length === 0) {
    await beforeCountDown?.();
    return [];
  }
  const ok = live.filter((e) => e.ok) as OkEnd[];
  const { retries, finals } = await decideFailures(sql, runs, live);
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
  return await announce(sql, runs, { ok, retries, finals, skips }, schema, beforeCountDown);
}

/**
 * The settling's events, notifications and count-downs (and the caller's statement
 * before them), sent together.
 */
async function announce(
  sql: TransactionSql,
  runs: Map<string, RunRow>,
  settled: { ok: readonly OkEnd[]; retries: Decided[]; finals: Decided[]; skips: Skip[] },
  schema: string,
  beforeCountDown?: () => Promise<unknown>,
): Promise<Finished[]> {
  const { ok, retries, finals, skips } = settled;
  const events: (Record<string, unknown> | EventText)[] = [];
  const decided = new Map<string, number>();
  const bump = (runId: string, k: number) => decided.set(runId, (decided.get(runId) ?? 0) + k);
  const queued = new Set<string>();
  const ready = new Set<string>();
  for (const f of finals) bump(f.end.runId, 1);
  for (const r of retries) queued.add(r.end.runId);
  for (const e of ok) bump(e.runId, 1);
  for (const f of finals) events.push(...f.events);
  for (const r of retries) events.push(...r.events);
  for (const e of ok) {
    events.push(taskOkText(e, tagOf(runs.get(e.runId)!)));
    ready.add(e.runId); // may have made dependants ready
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
  const [, , , , , ...ended] = await Promise.all([
    insertEvents(sql, events),
    notifyAll(sql, QUEUED_CHANNEL, queued),
    notifyAll(sql, PROGRESS_CHANNEL, decided.keys()),
    beforeCountDown?.(),
    notifyReady(sql, ready),
    ...order.map(([runId, k]) => countDown(sql, { runId, decided: k, schema })),
  ]);
  return ended.filter((f): f is Finished => f !== null);
}

/**
 * Notifies workers of the runs that have attempts ready to claim after this
 * transaction's own claim (none when the settling worker took them all): one
 * notification per run, and none for nothing.
 */
async function notifyReady(sql: TransactionSql, runIds: ReadonlySet<string>): Promise<void> {
  if (runIds.size === 0) return;
  await sql`
    select pg_notify(orch_channel(${QUEUED_CHANNEL}, current_schema()), p)
    from unnest(${[...runIds]}::text[]) as p
    where exists (select 1 from task_queue q where q.run_id = p and q.state = 'queued'
      and (q.not_before is null or q.not_before <= now()))`;
}

/** A successful attempt's end. */
export type OkEnd = AttemptEnd & { ok: true };

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
      select f.run_id, x.idx from f join run_tasks t on t.run_id = f.run_id and t.idx = f.idx
        cross join unnest(t.downs) as x(idx)
      union
      select d.run_id, x.idx from d join run_tasks t on t.run_id = d.run_id and t.idx = d.idx
        cross join unnest(t.downs) as x(idx)
    ), s(run_id, idx) as (
      select * from unnest(${ok.map((e) => e.runId)}::text[], ${ok.map((e) => e.idx)}::int[])
    ), k as (
      select s.run_id, x.idx from s join run_tasks t on t.run_id = s.run_id and t.idx = s.idx
        cross join unnest(t.downs) as x(idx)
      union
      select run_id, idx from d
    )
    select t.run_id, t.idx from run_tasks t join k on t.run_id = k.run_id and t.idx = k.idx
    order by t.run_id, t.idx for update of t`;
}

/**
 * Stores outputs, counts dependants down, queues the ready ones: `orch_settle_ok`
 * (migration 6), the same function the one-call path of successes runs.
 */
async function succeed(sql: TransactionSql, ok: readonly OkEnd[]): Promise<void> {
  await sql`select orch_settle_ok(${ok.map((e) => e.runId)}::text[],
    ${ok.map((e) => e.idx)}::int[], ${ok.map((e) => e.outputJson)}::text[]::jsonb[])`;
}

/**
 * `task_ok` as the local executor writes it, embedding the worker's output text.
 * @param e A successful end.
 * @param tag Its run's fields.
 * @returns The event as text.
 */
export function taskOkText(e: OkEnd, tag: RunTag): EventText {
  const timestamp = isoTimestamp(e.endedAt);
  const text = `{"timestamp":"${timestamp}","event":"task_ok","task_id":${
    JSON.stringify(e.taskId)
  },"attempt":${e.attempt},"duration_s":${
    JSON.stringify(round3((e.endedAt - e.startedAt) / 1000))
  },"output":${e.outputJson},"run_id":${JSON.stringify(tag.run_id)},"dag_name":${
    JSON.stringify(tag.dag_name)
  },"tenant_id":${JSON.stringify(tag.tenant_id)},"v":${EVENT_SCHEMA_VERSION}}`;
  return new EventText(tag.run_id, "task_ok", timestamp, text);
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
