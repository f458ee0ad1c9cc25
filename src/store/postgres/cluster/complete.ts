import type { JobOutcome } from "../../../pool/task_pool.ts";
import type { ClusterDb } from "./submit.ts";
import { type Finished, readRuns } from "./_finish.ts";
import { withRetry } from "./_retry.ts";
import { type AttemptEnd, settleAttempts } from "./_settle.ts";
import { pipelinedTransaction } from "./_transaction.ts";
import { claimAttempts, type ClaimedAttempt } from "./claim.ts";
import { completeOk, type OkAttempt } from "./_complete_ok.ts";
import { EventText, insertEvents, type RunTag } from "./_events.ts";

/** Largest task output stored, as JSON text in bytes (1 MiB). */
export const MAX_OUTPUT_BYTES = 1_048_576;

/** A claimed attempt and how it ended in the worker's pool. */
export interface FinishedAttempt {
  /** `task_queue.id`. */
  id: string;
  runId: string;
  idx: number;
  taskId: string;
  attempt: number;
  outcome: JobOutcome;
  /** The run's fields, as claimed: with them a batch of successes takes one round trip. */
  tag?: RunTag;
}

/**
 * @param c A claimed attempt.
 * @param outcome How it ended in the pool.
 * @returns The end to record (with its run's fields, so successes take one call).
 */
export function endOf(c: ClaimedAttempt, outcome: JobOutcome): FinishedAttempt {
  return {
    id: c.id,
    runId: c.job.runId,
    idx: c.idx,
    taskId: c.job.taskId,
    attempt: c.job.attempt,
    outcome,
    tag: c.tag,
  };
}

/**
 * Records how attempts ended, in one transaction (retried on deadlock): deletes the
 * queue row of a success and marks a failure's `failed`, each only if it is still
 * `running` and claimed by `worker` (a row reaped as `worker_lost` or dropped by a
 * cancel meanwhile is left alone, so a late result never duplicates completed work),
 * then settles them (outputs, readiness of
 * dependants, retries, skips, the run's end). An output past `maxOutputBytes` fails its
 * attempt with `OutputTooLargeError` (retries apply).
 * @param db The cluster database.
 * @param attempts The attempts that ended.
 * @param options The worker's name and the output limit.
 * @returns The runs that ended.
 */
export async function completeAttempts(
  db: ClusterDb,
  attempts: readonly FinishedAttempt[],
  options: { worker: string; maxOutputBytes?: number },
): Promise<Finished[]> {
  if (attempts.length === 0) return [];
  return (await completeAndClaim(db, attempts, { ...options, claim: 0, lostMs: 0 })).finished;
}

/**
 * {@link completeAttempts}, and in the same transaction the worker's next claim of up
 * to `claim` attempts ({@link claimAttempts}), which sees the dependants this
 * transaction made ready: the worker starts them as soon as it commits, without waiting
 * for a notification and another round trip. The claim is sent before the runs are
 * counted down, so the transaction still takes the `runs` rows' locks last.
 *
 * A batch of successes only (the common case) takes one statement, `orch_complete_ok`
 * (see `_complete_ok.ts`); a batch with a failure takes the pipelined transaction below.
 * @param db The cluster database.
 * @param attempts The attempts that ended (may be none: then it only claims).
 * @param options The worker's name, the output limit, how many attempts to claim, the
 *   worker's lost bound (`lost_after_ms` of its claims), and task-level events to store
 *   first in the same transaction (`before`: the worker's `task_start` / `task_log`
 *   lines not yet stored, in order).
 * @returns The runs that ended, and the attempts claimed (running once this returns).
 */
export async function completeAndClaim(
  db: ClusterDb,
  attempts: readonly FinishedAttempt[],
  options: {
    worker: string;
    maxOutputBytes?: number;
    claim: number;
    lostMs: number;
    before?: readonly Record<string, unknown>[];
  },
): Promise<{ finished: Finished[]; claimed: ClaimedAttempt[] }> {
  const limit = options.maxOutputBytes ?? MAX_OUTPUT_BYTES;
  // Queue rows are locked in id order, as the heartbeat's update locks them.
  attempts = [...attempts].sort((x, y) => (BigInt(x.id) < BigInt(y.id) ? -1 : 1));
  const ends = attempts.map((a) => attemptEnd(a, limit));
  const before = (options.before ?? []).map((e) => EventText.of(e));
  const oks = successes(attempts, ends);
  if (oks) return await withRetry(() => completeOk(db, oks, { ...options, before }));
  return await withRetry(() =>
    pipelinedTransaction(db.sql, async (sql) => {
      const early = insertEvents(sql, before);
      // Successes' rows are deleted (as `orch_complete_ok` does); failures' kept `failed`.
      const mine = sql<{ id: string }[]>`
        with u as (
          select * from unnest(${attempts.map((a) => a.id)}::bigint[],
            ${ends.map((e) => (e.ok ? null : JSON.stringify({ error: e.error })))}::text[])
            as u(id, error)
        ), k as (
          select q.id, u.error from task_queue q join u on q.id = u.id
          where q.state = 'running' and q.claimed_by = ${options.worker}
          order by q.id for update of q
        ), ok as (
          delete from task_queue q using k where q.id = k.id and k.error is null
          returning q.id
        ), failed as (
          update task_queue q set state = 'failed', error = k.error::jsonb, heartbeat = now()
          from k where q.id = k.id and k.error is not null
          returning q.id
        )
        select id from ok union all select id from failed`.execute();
      const runs = readRuns(sql, ends.map((e) => e.runId));
      let claimed: ClaimedAttempt[] = [];
      const claim = async () => {
        claimed = await claimAttempts(sql, {
          worker: options.worker,
          limit: options.claim,
          lostMs: options.lostMs,
        });
      };
      const [, rows, live] = await Promise.all([early, mine, runs]);
      const kept = new Set(rows.map((r) => r.id));
      const finished = await settleAttempts(
        sql,
        live,
        ends.filter((_, i) => kept.has(attempts[i].id)),
        db.schema,
        claim,
      );
      return { finished, claimed };
    })
  );
}

/**
 * The reaper: fails every `running` attempt whose heartbeat is older than the bound
 * its worker claimed it with (`lost_after_ms`; else `lostMs`) as
 * `WorkerLostError` (reason `worker_lost`), through the same settling as any failure
 * (retries honoured; none left: the task fails and its dependants are skipped). Rows
 * another reaper holds are skipped (SKIP LOCKED), so reapers never fight.
 * @param db The cluster database.
 * @param options The bound in ms.
 * @returns How many attempts were reaped, and the runs that ended.
 */
export async function reapLostAttempts(
  db: ClusterDb,
  options: { lostMs: number },
): Promise<{ reaped: number; finished: Finished[] }> {
  const dflt = options.lostMs;
  const stale = await db.sql<{ run_id: string }[]>`
    select distinct run_id from task_queue
    where state = 'running'
      and heartbeat < now() - coalesce(lost_after_ms, ${dflt}) * interval '1 millisecond'`;
  if (stale.length === 0) return { reaped: 0, finished: [] };
  return await withRetry(() =>
    db.sql.begin(async (sql) => {
      const runIds = stale.map((r) => r.run_id);
      const rows = await sql<{
        id: string;
        run_id: string;
        idx: number;
        task_id: string;
        attempt: number;
        claimed_by: string;
        started: Date;
        silent_s: number;
        bound_s: number;
      }[]>`
        with lost as (
          select id from task_queue
          where state = 'running' and run_id = any(${runIds}::text[])
            and heartbeat < now() - coalesce(lost_after_ms, ${dflt}) * interval '1 millisecond'
          order by id for update skip locked
        )
        update task_queue q set state = 'failed', error = jsonb_build_object('error',
          jsonb_build_object('name', 'WorkerLostError', 'reason', 'worker_lost'))
        from lost where q.id = lost.id
        returning q.id, q.run_id, q.idx, q.task_id, q.attempt, q.claimed_by,
          q.claimed_at as started,
          extract(epoch from (now() - q.heartbeat))::float8 as silent_s,
          coalesce(q.lost_after_ms, ${dflt}) / 1000.0::float8 as bound_s`;
      const runs = await readRuns(sql, rows.map((r) => r.run_id));
      const now = Date.now();
      const ends: AttemptEnd[] = rows.map((r) => ({
        runId: r.run_id,
        idx: r.idx,
        taskId: r.task_id,
        attempt: r.attempt,
        startedAt: r.started.getTime(),
        endedAt: now,
        ok: false,
        lost: true,
        error: {
          name: "WorkerLostError",
          message: `Worker "${r.claimed_by}" stopped heartbeating: none for ${
            r.silent_s.toFixed(1)
          } s (bound ${r.bound_s} s)`,
        },
      }));
      const finished = await settleAttempts(sql, runs, ends, db.schema);
      return { reaped: rows.length, finished };
    })
  );
}

/** The batch as successes with their run's fields, or null when any failed or lacks them. */
function successes(
  attempts: readonly FinishedAttempt[],
  ends: readonly AttemptEnd[],
): OkAttempt[] | null {
  const oks: OkAttempt[] = [];
  for (let i = 0; i < attempts.length; i++) {
    const { id, tag } = attempts[i];
    const end = ends[i];
    if (!end.ok || !tag) return null;
    oks.push({ id, tag, end });
  }
  return oks;
}

function attemptEnd(a: FinishedAttempt, limit: number): AttemptEnd {
  const base = {
    runId: a.runId,
    idx: a.idx,
    taskId: a.taskId,
    attempt: a.attempt,
    startedAt: a.outcome.startedAt,
    endedAt: a.outcome.endedAt,
  };
  const o = a.outcome;
  if (!o.ok) return { ...base, ok: false, error: o.error, cancelled: o.cancelled };
  // At most 3 bytes per UTF-16 unit: most outputs need no encoding to be measured.
  const bytes = o.outputJson.length * 3 <= limit
    ? 0
    : new TextEncoder().encode(o.outputJson).length;
  if (bytes <= limit) return { ...base, ok: true, outputJson: o.outputJson };
  return {
    ...base,
    ok: false,
    error: {
      name: "OutputTooLargeError",
      message:
        `Cannot store the output of task "${a.taskId}" (run "${a.runId}", attempt ${a.attempt}): ${bytes} bytes is over the limit of ${limit} bytes; return less (e.g. a path or a key to where the data is)`,
    },
  };
}
