import type { Migration } from "./migrations.ts";

/**
 * `orch_claim(worker, n, lost_ms)`: the claim of {@link claimAttempts} as one call.
 * Claims up to `n` queued attempts whose `not_before` passed, oldest first, `FOR UPDATE
 * SKIP LOCKED`, marks them and their tasks `running`, and returns each attempt with its
 * task spec, run spec and the outputs of its direct upstream tasks (`[task_id, output
 * text]` in `depends_on` order). When it claims nothing, `due_ms` is the wait until the
 * next delayed retry's `not_before` (null when none), so an idle worker needs no second
 * query to know how long to sleep.
 */
const CLAIM = `
create function orch_claim(p_worker text, p_limit integer, p_lost_ms integer)
returns json language plpgsql as $fn$
declare
  v_claimed json;
  v_due float8;
begin
  if p_limit <= 0 then
    return json_build_object('claimed', '[]'::json, 'due_ms', null);
  end if;
  with c as (
    select id from task_queue
    where state = 'queued' and (not_before is null or not_before <= now())
    order by id limit p_limit for update skip locked
  ), q as (
    update task_queue q set state = 'running', claimed_by = p_worker,
      claimed_at = now(), heartbeat = now(), lost_after_ms = p_lost_ms
    from c where q.id = c.id
    returning q.id, q.run_id, q.idx, q.attempt
  ), t as (
    update run_tasks t set state = 'running', started = coalesce(t.started, now())
    from q where t.run_id = q.run_id and t.idx = q.idx and t.state = 'queued'
    returning t.run_id, t.idx, t.task_id, t.spec
  )
  select json_agg(json_build_object('id', q.id::text, 'run_id', q.run_id, 'idx', q.idx,
      'attempt', q.attempt, 'task_id', t.task_id, 'spec', t.spec, 'run_spec', r.spec,
      'upstream', (select json_agg(json_build_array(u.task_id, u.output::text) order by e.pos)
        from run_edges e join run_tasks u on u.run_id = e.run_id and u.idx = e.up_idx
        where e.run_id = q.run_id and e.down_idx = q.idx)) order by q.id)
    into v_claimed
  from q join t on t.run_id = q.run_id and t.idx = q.idx
    join runs r on r.run_id = q.run_id;
  if v_claimed is null then
    select extract(epoch from (min(not_before) - now())) * 1000 into v_due
    from task_queue where state = 'queued' and not_before > now();
  end if;
  return json_build_object('claimed', coalesce(v_claimed, '[]'::json), 'due_ms', v_due);
end
$fn$`;

/**
 * `orch_run_end(run_id, age_s, spec, schema, event_v, state_v)`: ends a run
 * whose count-down reached 0 in the calling transaction, as `finishRun` does: `dag_done`
 * (counts from `run_tasks`), `run_finished` under the state lock, `runs.status`, and a
 * progress notification. Returns `{run_id, status}`.
 */
const RUN_END = `
create function orch_run_end(p_run_id text, p_age_s float8, p_spec jsonb, p_schema text,
  p_event_v integer, p_state_v integer)
returns json language plpgsql as $fn$
declare
  c record;
  v_status text;
  v_dur float8 := round(p_age_s * 1000) / 1000;
  v_at text;
begin
  select count(*) filter (where state = 'success')::int as success,
    count(*) filter (where state = 'failed')::int as failed,
    count(*) filter (where state = 'skipped')::int as skipped
    into c from run_tasks where run_id = p_run_id;
  v_status := case when c.failed + c.skipped > 0 then 'failed' else 'success' end;
  v_at := to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
  insert into events (run_id, event, ts, body) values (p_run_id, 'dag_done', v_at::timestamptz,
    jsonb_strip_nulls(jsonb_build_object('timestamp', v_at, 'event', 'dag_done',
      'status', v_status, 'tasks_succeeded', c.success, 'tasks_failed', c.failed,
      'tasks_skipped', c.skipped, 'duration_s', v_dur, 'run_id', p_run_id,
      'dag_name', p_spec->'dag_name', 'tenant_id', p_spec->'tenant_id', 'v', p_event_v)));
  perform pg_advisory_xact_lock(hashtextextended('orch:' || p_schema || ':state', 0));
  v_at := to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
  insert into state_events (event, ts, schedule_id, run_id, body)
  values ('run_finished', v_at::timestamptz, p_spec->>'schedule_id', p_run_id,
    jsonb_strip_nulls(jsonb_build_object('timestamp', v_at, 'v', p_state_v,
      'event', 'run_finished', 'run_id', p_run_id, 'schedule_id', p_spec->'schedule_id',
      'dag_name', p_spec->'dag_name', 'status', v_status, 'duration_s', v_dur,
      'tasks_succeeded', c.success, 'tasks_failed', c.failed, 'tasks_skipped', c.skipped)));
  update runs set status = v_status, finished = now(), remaining = 0 where run_id = p_run_id;
  perform pg_notify('orch_run_progress', p_run_id);
  return json_build_object('runId', p_run_id, 'status', v_status);
end
$fn$`;

/**
 * `orch_complete_ok(...)`: records a worker's batch of **successful** attempt ends and
 * claims its next attempts, in one call (one statement: with autocommit, one
 * transaction and one WAL flush). Takes the locks in the order of every cluster
 * transaction: the attempts' queue rows (id order; only rows still `running` and
 * claimed by `p_worker` are marked `done`, so a late result of a reaped attempt is
 * ignored), the dependants' `run_tasks` rows (`(run_id, idx)` order), the claim (SKIP
 * LOCKED), then each run's `runs` row, last, for the count-down; the call that takes
 * `remaining` to 0 ends the run ({@link RUN_END}). Ends of runs no longer running are
 * ignored. `task_ok` bodies come from the worker (they embed its output text); the
 * worker's `task_start` / `task_log` events not yet stored (`p_pre_*`) are inserted
 * first, so they precede the ends in `id` order without a round trip of their own.
 */
const COMPLETE_OK = `
create function orch_complete_ok(p_worker text, p_ids bigint[], p_run_ids text[],
  p_idx integer[], p_outputs text[], p_ts text[], p_events text[], p_claim integer,
  p_lost_ms integer, p_schema text, p_event_v integer, p_state_v integer,
  p_pre_run text[], p_pre_event text[], p_pre_ts text[], p_pre_body text[])
returns json language plpgsql as $fn$
declare
  v_kept bigint[];
  l_run text[];
  l_idx integer[];
  l_out text[];
  l_ts text[];
  l_ev text[];
  v_claim json;
  v_finished json[] := '{}';
  r record;
  v_run text;
  v_left integer;
  v_spec jsonb;
  v_age float8;
begin
  insert into events (run_id, event, ts, body)
  select run_id, event, ts::timestamptz, body::jsonb
  from unnest(p_pre_run, p_pre_event, p_pre_ts, p_pre_body)
    with ordinality as u(run_id, event, ts, body, ord) order by ord;
  select coalesce(array_agg(id order by id), '{}') into v_kept from (
    select id from task_queue
    where id = any(p_ids) and state = 'running' and claimed_by = p_worker
    order by id for update) k;
  update task_queue set state = 'done', error = null, heartbeat = now()
  where id = any(v_kept);
  select coalesce(array_agg(e.run_id order by e.ord), '{}'),
    coalesce(array_agg(e.idx order by e.ord), '{}'),
    coalesce(array_agg(e.output order by e.ord), '{}'),
    coalesce(array_agg(e.ts order by e.ord), '{}'),
    coalesce(array_agg(e.body order by e.ord), '{}')
    into l_run, l_idx, l_out, l_ts, l_ev
  from unnest(p_ids, p_run_ids, p_idx, p_outputs, p_ts, p_events)
    with ordinality as e(id, run_id, idx, output, ts, body, ord)
  where e.id = any(v_kept) and exists (select 1 from runs x where x.run_id = e.run_id
    and x.mode = 'cluster' and x.status = 'running');
  if cardinality(l_run) > 0 then
    perform 1 from run_tasks t where (t.run_id, t.idx) in (
      select e.run_id, e.down_idx from run_edges e
        join unnest(l_run, l_idx) as s(run_id, idx) on e.run_id = s.run_id and e.up_idx = s.idx)
    order by t.run_id, t.idx for update of t;
    with s as (
      select * from unnest(l_run, l_idx, l_out) as s(run_id, idx, output)
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
    order by run_id, idx;
    insert into events (run_id, event, ts, body)
    select run_id, 'task_ok', ts::timestamptz, body::jsonb
    from unnest(l_run, l_ts, l_ev) with ordinality as u(run_id, ts, body, ord) order by ord;
    perform pg_notify('orch_run_progress', p) from (select distinct unnest(l_run) as p) d;
  end if;
  v_claim := orch_claim(p_worker, p_claim, p_lost_ms);
  if cardinality(l_run) = 0 then
    return json_build_object('claimed', v_claim->'claimed', 'finished', '[]'::json);
  end if;
  perform pg_notify('orch_task_queued', p) from (select distinct unnest(l_run) as p) d
  where exists (select 1 from task_queue q where q.run_id = d.p and q.state = 'queued'
    and (q.not_before is null or q.not_before <= now()));
  for r in
    select run_id, count(*)::int as k from unnest(l_run) as u(run_id)
    group by run_id order by run_id
  loop
    v_run := null;
    update runs x set remaining = x.remaining - r.k
    where x.run_id = r.run_id and x.status = 'running'
    returning x.run_id, x.remaining, x.spec,
      extract(epoch from (now() - coalesce(x.started, now())))::float8
    into v_run, v_left, v_spec, v_age;
    if v_run is not null and v_left <= 0 then
      v_finished := v_finished || orch_run_end(v_run, v_age, v_spec, p_schema, p_event_v,
        p_state_v);
    end if;
  end loop;
  return json_build_object('claimed', v_claim->'claimed', 'finished', to_json(v_finished));
end
$fn$`;

// No `plan_cache_mode = force_generic_plan`: a generic plan made while a run's tables are
// small (the first calls) stays in the session while they grow, and the bench then spent
// 1,200-2,500 µs of server CPU per task instead of about 200 (measured).

/**
 * Version 3: one call per completing transaction and per claim (server-side functions),
 * so a worker's batch of successes, its next claim, the count-down and the run's end
 * cost one round trip and one WAL flush.
 */
export const MIGRATION_V3: Migration = {
  version: 3,
  name: "cluster functions: orch_claim, orch_complete_ok, orch_run_end (one round trip)",
  statements: [CLAIM, RUN_END, COMPLETE_OK],
};
