import type { Job, UpstreamOutput } from "../../../pool/task_pool.ts";
import type { Sql, TransactionSql } from "../connect.ts";
import type { RunTag } from "./_events.ts";
import type { ClusterRunSpec, ClusterTaskSpec } from "./_run_spec.ts";

/** An attempt a worker claimed: the queue row and the `Job` to run. */
export interface ClaimedAttempt {
  /** `task_queue.id`. */
  id: string;
  idx: number;
  job: Job;
  tag: RunTag;
  workflowRef: string;
}

interface Row {
  id: string;
  run_id: string;
  idx: number;
  attempt: number;
  task_id: string;
  spec: ClusterTaskSpec;
  run_spec: ClusterRunSpec;
  upstream: string | null;
}

/**
 * Claims up to `limit` queued attempts whose `not_before` passed, oldest first, with
 * `FOR UPDATE SKIP LOCKED` (claimers never wait for each other), marks them and their
 * tasks `running`, and builds each attempt's `Job` in the same statement: the task's
 * spec, the run's params, and the outputs of its direct upstream tasks as JSON text in
 * `depends_on` order (what the local executor passes).
 * @param sql A client on the store's schema.
 * @param options Who claims (`claimed_by`), how many at most, and after how long
 *   without a heartbeat its attempts count as lost (`lost_after_ms`).
 * @returns The claimed attempts.
 */
export async function claimAttempts(
  sql: Sql | TransactionSql,
  options: { worker: string; limit: number; lostMs: number },
): Promise<ClaimedAttempt[]> {
  if (options.limit <= 0) return [];
  const rows = await sql<Row[]>`
    with c as (
      select id from task_queue
      where state = 'queued' and (not_before is null or not_before <= now())
      order by id limit ${options.limit} for update skip locked
    ), q as (
      update task_queue q set state = 'running', claimed_by = ${options.worker},
        claimed_at = now(), heartbeat = now(), lost_after_ms = ${options.lostMs}
      from c where q.id = c.id
      returning q.id, q.run_id, q.idx, q.attempt
    ), t as (
      update run_tasks t set state = 'running', started = coalesce(t.started, now())
      from q where t.run_id = q.run_id and t.idx = q.idx and t.state = 'queued'
      returning t.run_id, t.idx, t.task_id, t.spec
    )
    select q.id, q.run_id, q.idx, q.attempt, t.task_id, t.spec, r.spec as run_spec,
      (select json_agg(json_build_array(u.task_id, u.output::text) order by e.pos)::text
        from run_edges e join run_tasks u on u.run_id = e.run_id and u.idx = e.up_idx
        where e.run_id = q.run_id and e.down_idx = q.idx) as upstream
    from q join t on t.run_id = q.run_id and t.idx = q.idx
      join runs r on r.run_id = q.run_id
    order by q.id`;
  return rows.map((r) => {
    const upstream = r.upstream ? JSON.parse(r.upstream) as UpstreamOutput[] : [];
    const job: Job = {
      source: r.spec.source,
      params: r.spec.params,
      upstream,
      ...(r.run_spec.run_params ? { runParams: r.run_spec.run_params } : {}),
      runId: r.run_id,
      taskId: r.task_id,
      attempt: r.attempt,
      ...(r.spec.timeout_ms !== undefined ? { timeoutMs: r.spec.timeout_ms } : {}),
    };
    const tag = {
      run_id: r.run_id,
      dag_name: r.run_spec.dag_name,
      tenant_id: r.run_spec.tenant_id,
    };
    return { id: r.id, idx: r.idx, job, tag, workflowRef: r.spec.workflow_ref };
  });
}
