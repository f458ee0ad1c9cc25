import type { Migration } from "./migrations.ts";
import { MIGRATION_V4 } from "./migrations_v4.ts";
import { patched } from "./_patched.ts";

const [, CLAIM_V4, COMPLETE_OK_V4] = MIGRATION_V4.statements;

/**
 * `orch_claim` as in migration 4, reading each attempt's upstream tasks from its row's
 * `ups` (in `depends_on` order) instead of `run_edges`, and leaving the task rows alone:
 * a claimed task's row stays `queued` (its queue row, `running` with `claimed_by` and
 * `heartbeat`, says who runs it), one row version fewer per task.
 */
const CLAIM = patched(CLAIM_V4, [
  [
    `update run_tasks t set state = 'running', started = coalesce(t.started, now())
    from q where t.run_id = q.run_id and t.idx = q.idx and t.state = 'queued'
    returning t.run_id, t.idx, t.task_id, t.spec\n`,
    `select t.run_id, t.idx, t.task_id, t.spec, t.ups
    from q join run_tasks t on t.run_id = q.run_id and t.idx = q.idx
    where t.state = 'queued'\n`,
  ],
  [
    `from run_edges e join run_tasks u on u.run_id = e.run_id and u.idx = e.up_idx
        where e.run_id = q.run_id and e.down_idx = q.idx)`,
    `from unnest(t.ups) with ordinality as e(up_idx, pos)
        join run_tasks u on u.run_id = q.run_id and u.idx = e.up_idx)`,
  ],
], 6);

/**
 * `orch_settle_ok(run_ids, idx, outputs)`: the one definition of what a success does,
 * shared by `orch_complete_ok` and the failure path's transaction (`_settle.ts`).
 * Locks the successes' dependants in `(run_id, idx)` order, stores the outputs (tasks
 * still `queued` or `running` only), counts each dependant's `waiting` down by its
 * edges from the successes (`run_tasks.downs`), and queues attempt 1 of those that reach
 * 0 (in `(run_id, idx)` order). The caller holds the successes' queue rows.
 */
const SETTLE_OK = `
create function orch_settle_ok(p_run_ids text[], p_idx integer[], p_outputs jsonb[])
returns void language plpgsql as $fn$
begin
  perform 1 from run_tasks t where (t.run_id, t.idx) in (
    select s.run_id, d.idx from unnest(p_run_ids, p_idx) as s(run_id, idx)
      join run_tasks c on c.run_id = s.run_id and c.idx = s.idx
      cross join unnest(c.downs) as d(idx))
  order by t.run_id, t.idx for update of t;
  with s as (
    select * from unnest(p_run_ids, p_idx, p_outputs) as s(run_id, idx, output)
  ), done as (
    update run_tasks t set state = 'success', output = s.output, finished = now()
    from s where t.run_id = s.run_id and t.idx = s.idx and t.state in ('queued', 'running')
    returning t.run_id, t.downs
  ), counts as (
    select d.run_id, x.idx, count(*)::int as n
    from done d cross join unnest(d.downs) as x(idx)
    group by d.run_id, x.idx
  ), ready as (
    update run_tasks t set waiting = t.waiting - c.n,
      state = case when t.waiting = c.n and t.state = 'pending' then 'queued' else t.state end,
      attempts = case when t.waiting = c.n and t.state = 'pending' then 1 else t.attempts end
    from counts c where t.run_id = c.run_id and t.idx = c.idx
    returning t.run_id, t.idx, t.task_id, t.state, t.waiting
  )
  insert into task_queue (run_id, idx, task_id, attempt)
  select run_id, idx, task_id, 1 from ready where state = 'queued' and waiting = 0
  order by run_id, idx;
end
$fn$`;

/**
 * `orch_complete_ok` as in migration 4, its successes settled by `orch_settle_ok` (the
 * dependants' lock, outputs, count-downs and queueing it did inline, over `run_edges`),
 * and their queue rows deleted instead of marked `done` (an update of a row with five
 * indexes, none of them HOT-able: `state` is in their predicates); the success's record
 * is its `task_ok` event and its task row.
 */
const COMPLETE_OK = patched(COMPLETE_OK_V4, [
  [
    COMPLETE_OK_V4.slice(
      COMPLETE_OK_V4.indexOf("    perform 1 from run_tasks t where (t.run_id, t.idx) in ("),
      COMPLETE_OK_V4.indexOf(
        "    insert into events (run_id, event, ts, body)\n    select run_id, 'task_ok'",
      ),
    ),
    "    perform orch_settle_ok(l_run, l_idx, l_out);\n",
  ],
  [
    "update task_queue set state = 'done', error = null, heartbeat = now()\n  where id = any(v_kept);",
    "delete from task_queue where id = any(v_kept);",
  ],
  // JSON as jsonb documents (one array each), not text[]: no escaping by the client, no
  // unescaping by the server (measured 11-19 against 4-6 µs per element).
  ["create or replace function orch_complete_ok", "create function orch_complete_ok"],
  [
    "p_outputs text[], p_ts text[], p_events text[]",
    "p_outputs jsonb, p_ts text[], p_events jsonb",
  ],
  ["p_pre_ts text[], p_pre_body text[])", "p_pre_ts text[], p_pre_body jsonb)"],
  ["  l_out text[];\n", "  l_out jsonb[];\n"],
  ["  l_ev text[];\n", "  l_ev jsonb[];\n"],
  [
    `  select run_id, event, ts::timestamptz, body::jsonb
  from unnest(p_pre_run, p_pre_event, p_pre_ts, p_pre_body)
    with ordinality as u(run_id, event, ts, body, ord) order by ord;`,
    `  select u.run_id, u.event, u.ts::timestamptz, b.body
  from unnest(p_pre_run, p_pre_event, p_pre_ts) with ordinality as u(run_id, event, ts, ord)
    join jsonb_array_elements(p_pre_body) with ordinality as b(body, ord) on b.ord = u.ord
  order by u.ord;`,
  ],
  ["array_agg(e.output order by e.ord)", "array_agg(o.output order by e.ord)"],
  ["array_agg(e.body order by e.ord)", "array_agg(b.body order by e.ord)"],
  [
    `  from unnest(p_ids, p_run_ids, p_idx, p_outputs, p_ts, p_events)
    with ordinality as e(id, run_id, idx, output, ts, body, ord)`,
    `  from unnest(p_ids, p_run_ids, p_idx, p_ts) with ordinality as e(id, run_id, idx, ts, ord)
    join jsonb_array_elements(p_outputs) with ordinality as o(output, ord) on o.ord = e.ord
    join jsonb_array_elements(p_events) with ordinality as b(body, ord) on b.ord = e.ord`,
  ],
  [
    "select run_id, 'task_ok', ts::timestamptz, body::jsonb\n",
    "select run_id, 'task_ok', ts::timestamptz, body\n",
  ],
], 6);

/** The signature of `orch_complete_ok` before migration 6 (its JSON as `text[]`). */
const DROP_COMPLETE_OK_V3 = `drop function orch_complete_ok(text, bigint[], text[], integer[],
  text[], text[], text[], integer, integer, text, integer, integer, text[], text[], text[], text[])`;

/** The delete trigger of migration 5, without `run_edges`. */
const CASCADE = `create or replace function orch_runs_cascade() returns trigger
language plpgsql as $$
begin
  delete from run_tasks where run_id = old.run_id;
  delete from task_queue where run_id = old.run_id;
  return old;
end $$`;

/**
 * `ups` / `downs` of the tasks of runs still queued or running, from `run_edges` (ended
 * runs never read their edges again: `dag_start` keeps them for the dashboard).
 */
const BACKFILL = [
  `update run_tasks t set ups = e.ups from (
    select e.run_id, e.down_idx, array_agg(e.up_idx order by e.pos) as ups
    from run_edges e join runs r on r.run_id = e.run_id and r.status in ('queued', 'running')
    group by e.run_id, e.down_idx) e
  where t.run_id = e.run_id and t.idx = e.down_idx`,
  `update run_tasks t set downs = e.downs from (
    select e.run_id, e.up_idx, array_agg(e.down_idx order by e.down_idx) as downs
    from run_edges e join runs r on r.run_id = e.run_id and r.status in ('queued', 'running')
    group by e.run_id, e.up_idx) e
  where t.run_id = e.run_id and t.idx = e.up_idx`,
];

/**
 * lz4 compresses and decompresses the large event bodies (a 10,000-task run's
 * `dag_start`: every task id and edge, about 600 kB) several times faster than the
 * default pglz. Only where the server was built with lz4; values already stored keep
 * their compression.
 */
const LZ4 = `do $$ begin
  alter table events alter column body set compression lz4;
exception when feature_not_supported or syntax_error then null;
end $$`;

/**
 * Version 6: a cluster run's edges live in its `run_tasks` rows, `ups` (upstream
 * indexes in `depends_on` order) and `downs` (dependants), instead of a `run_edges`
 * table: the submit of a 10,000-task DAG no longer inserts 20,000 edge rows with two
 * indexes, and a completion reads the dependants from the rows it updates anyway.
 * Success's decisions move into one function (`orch_settle_ok`) that the one-call path
 * and the failure path's transaction share. Fewer row versions per task: the claim no
 * longer marks the task row `running`, a success deletes its queue row (failed
 * attempts keep theirs, `failed`, with the error), and `run_tasks` pages keep room for
 * heap-only updates (fillfactor 70).
 */
export const MIGRATION_V6: Migration = {
  version: 6,
  name: "cluster runs: edges in run_tasks (ups, downs), no run_edges; orch_settle_ok",
  statements: [
    `alter table run_tasks add column ups integer[], add column downs integer[]`,
    // Room on each page for the updates of its rows (outputs, count-downs): its only index
    // is the key, so they can stay heap-only (HOT) instead of adding a key entry each.
    `alter table run_tasks set (fillfactor = 70)`,
    ...BACKFILL,
    `drop table run_edges`,
    CASCADE,
    CLAIM,
    SETTLE_OK,
    DROP_COMPLETE_OK_V3,
    COMPLETE_OK,
    LZ4,
  ],
};
