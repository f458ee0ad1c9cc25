import {
  DURATION_BUCKETS,
  type HistogramData,
  LAG_BUCKETS,
  type MetricValues,
} from "../../dashboard/mod.ts";
import type { Sql } from "./connect.ts";

/**
 * The dashboard's `/metrics` values counted in SQL over the whole store, with the
 * meaning the JSONL dashboard gives them when it folds both logs (`RunIndex`,
 * `SchedulerStats`):
 *
 * - a run is any string `run_id` of a task event or of a `run_started` / `run_finished`;
 *   its status is that of its last `dag_done`, else of its last `run_finished` (one
 *   outside the four final statuses counts as `failed`), else `running`;
 * - attempts are `task_ok` / `task_fail` / `task_skipped` events with a string `run_id`,
 *   their durations the numeric `duration_s` of the first two;
 * - lag pairs each enqueued schedule-minute with the first `run_started` of the same
 *   schedule and `minute` after it;
 * - the last tick is the later of the last `schedule_enqueued` / `schedule_skipped` and
 *   the last watermark update;
 * - lines are rows whose body is an object with a string `event`; other rows are corrupt.
 *
 * Cost per call: three scans of `events` (all rows for lines; the task ends; the
 * `dag_done` rows) and its `(run_id, id)` index (runs), run on the client's connections
 * in parallel; two passes over the smaller `state_events`; one index probe per enqueued
 * schedule-minute (lag). Measured on 200,000 events of 11,628 runs: see
 * docs/DASHBOARD.md.
 */

/** `body` is a well-formed event (as the JSONL readers require of a line). */
const WELL_FORMED =
  `coalesce(jsonb_typeof(body) = 'object' and jsonb_typeof(body->'event') = 'string', false)`;

/** A run status as the dashboard shows it: the four final ones, anything else `failed`. */
function viewStatus(expr: string): string {
  return `case when ${expr} in ('success', 'failed', 'cancelled', 'interrupted') then ${expr}
    else 'failed' end`;
}

/**
 * The histogram slot of `value` as `Histogram.observe` picks it: the number of bounds
 * strictly below it. `width_bucket(v, ascending)` counts the bounds at or below `v`, so
 * it is asked for `-value` among the negated bounds, and the count of those at or below
 * (the bounds at or above `value`) is taken from the number of bounds.
 */
function slot(value: string, bounds: readonly number[]): string {
  const negated = [...bounds].reverse().map((b) => `${-b}`).join(",");
  return `(${bounds.length} - width_bucket(-(${value}), array[${negated}]::float8[]))`;
}

type SlotRow = { key: string; slot: number | null; n: number; sum: number | null };

/** Builds histograms from `(key, slot, n, sum)` rows; rows with a null slot are skipped. */
function histograms(
  rows: readonly SlotRow[],
  bounds: readonly number[],
): Map<string, HistogramData> {
  const out = new Map<string, { bounds: number[]; counts: number[]; sum: number; count: number }>();
  for (const r of rows) {
    if (r.slot === null) continue;
    let h = out.get(r.key);
    if (!h) {
      h = { bounds: [...bounds], counts: new Array(bounds.length + 1).fill(0), sum: 0, count: 0 };
      out.set(r.key, h);
    }
    h.counts[r.slot] += r.n;
    h.sum += r.sum ?? 0;
    h.count += r.n;
  }
  return out;
}

function emptyHistogram(bounds: readonly number[]): HistogramData {
  return { bounds, counts: new Array(bounds.length + 1).fill(0), sum: 0, count: 0 };
}

/** Attempts and durations: the task-end rows of `events`. */
async function attemptCounts(sql: Sql) {
  const rows = await sql.unsafe<SlotRow[]>(`
    select key, ${slot("d", DURATION_BUCKETS)} as slot, count(*)::int as n, sum(d)::float8 as sum
    from (
      select event as key, case when event <> 'task_skipped'
          and jsonb_typeof(body->'duration_s') = 'number' then (body->>'duration_s')::float8 end as d
      from events where event in ('task_ok', 'task_fail', 'task_skipped')
        and jsonb_typeof(body->'run_id') = 'string' and ${WELL_FORMED}
    ) e group by key, slot`);
  const count = (key: string) => rows.filter((r) => r.key === key).reduce((a, r) => a + r.n, 0);
  const h = histograms(rows, DURATION_BUCKETS);
  return {
    attempts: {
      success: count("task_ok"),
      failed: count("task_fail"),
      skipped: count("task_skipped"),
    },
    durations: {
      success: h.get("task_ok") ?? emptyHistogram(DURATION_BUCKETS),
      failed: h.get("task_fail") ?? emptyHistogram(DURATION_BUCKETS),
    },
  };
}

/** Well-formed and corrupt rows of `events`. */
async function eventLines(sql: Sql): Promise<{ lines: number; corrupt: number }> {
  const [row] = await sql.unsafe<{ lines: number; corrupt: number }[]>(`
    select count(*) filter (where ok)::int as lines, count(*) filter (where not ok)::int as corrupt
    from (select ${WELL_FORMED} as ok from events) e`);
  return row;
}

/** Line counts and the last schedule decision: one pass over `state_events`. */
async function stateCounts(sql: Sql) {
  const [row] = await sql.unsafe<{ lines: number; corrupt: number; tick: Date | null }[]>(`
    select count(*) filter (where ok)::int as lines, count(*) filter (where not ok)::int as corrupt,
      max(ts) filter (where ok and event in ('schedule_enqueued', 'schedule_skipped')) as tick
    from (select ${WELL_FORMED} as ok, event, ts from state_events) s`);
  return row;
}

/**
 * Runs by status. The runs of `events` are its `run_id` column (by the `(run_id, id)`
 * index; orch writes it from the row's string `run_id`), their statuses their last
 * `dag_done`'s.
 */
async function runCounts(sql: Sql): Promise<MetricValues["runs"]> {
  const rows = await sql.unsafe<{ status: keyof MetricValues["runs"]; n: number }[]>(`
    with e as (
      select distinct run_id from events where run_id is not null
    ), d as (
      select distinct on (run_id) run_id, body->>'status' as status from events
      where event = 'dag_done' and run_id is not null order by run_id, id desc
    ), s as (
      select run_id, (array_agg(body->>'status' order by id desc)
        filter (where event = 'run_finished'))[1] as fin, bool_or(event = 'run_finished') as has_fin
      from state_events where event in ('run_started', 'run_finished') and ${WELL_FORMED}
        and jsonb_typeof(body->'run_id') = 'string'
      group by run_id
    )
    select status, count(*)::int as n from (
      select case when d.run_id is not null then ${viewStatus("d.status")}
        when s.has_fin then ${viewStatus("s.fin")} else 'running' end as status
      from (select run_id from e union select run_id from s) r
        left join d using (run_id) left join s using (run_id)) r
    group by status`);
  const out = { running: 0, success: 0, failed: 0, cancelled: 0, interrupted: 0 };
  for (const r of rows) out[r.status] = r.n;
  return out;
}

/** Scheduler lag per schedule: each enqueued minute and the first run started for it. */
async function lagHistograms(sql: Sql): Promise<Map<string, HistogramData>> {
  const rows = await sql.unsafe<SlotRow[]>(`
    select key, ${slot("lag", LAG_BUCKETS)} as slot, count(*)::int as n, sum(lag)::float8 as sum
    from (
      select m.schedule_id as key, r.lag from schedule_minutes m
      join state_events q on q.id = m.state_event_id
      cross join lateral (
        select greatest(0, extract(epoch from (x.ts - m.minute_utc)))::float8 as lag
        from state_events x
        where x.schedule_id = m.schedule_id and x.id > q.id and x.event = 'run_started'
          and x.body->'minute' = q.body->'minute'
        order by x.id limit 1) r
      where m.kind = 'enqueued'
    ) l group by key, slot`);
  return histograms(rows, LAG_BUCKETS);
}

/**
 * Counts everything `/metrics` reports over the whole store (see the module comment).
 * @param sql A client on the store's schema.
 * @returns The values.
 */
export async function storeMetrics(sql: Sql): Promise<MetricValues> {
  const [attempts, events, state, runs, lag, [marks]] = await Promise.all([
    attemptCounts(sql),
    eventLines(sql),
    stateCounts(sql),
    runCounts(sql),
    lagHistograms(sql),
    sql<{ t: Date | null }[]>`select max(updated) as t from watermarks`,
  ]);
  const ticks = [state.tick, marks.t].filter((t): t is Date => t !== null).map((t) => t.getTime());
  return {
    runs,
    attempts: attempts.attempts,
    durations: attempts.durations,
    lag,
    lastTickMs: ticks.length > 0 ? Math.max(...ticks) : null,
    logs: {
      events: { lines: events.lines, corrupt: events.corrupt },
      state: { lines: state.lines, corrupt: state.corrupt },
    },
  };
}
