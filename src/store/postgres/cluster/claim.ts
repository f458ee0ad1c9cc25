import type { Job, UpstreamOutput } from "../../../pool/task_pool.ts";
import type { WorkflowSource } from "../../../workflows/registry.ts";
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

/** An attempt as `orch_claim` returns it (JSON). */
export interface ClaimRow {
  id: string;
  run_id: string;
  idx: number;
  attempt: number;
  task_id: string;
  spec: ClusterTaskSpec;
  run_spec: ClusterRunSpec;
  upstream: UpstreamOutput[] | null;
}

/** The workflow sources of the claimed attempts' runs, by run id (`runs.sources`). */
export type RunSources = Record<string, WorkflowSource[]> | null | undefined;

/** What a claim returns: the attempts, and when nothing was claimed, the next retry's wait. */
export interface Claim {
  claimed: ClaimedAttempt[];
  /** Ms until the next delayed retry is due (null: none, or something was claimed). */
  dueMs: number | null;
}

/**
 * Claims up to `limit` queued attempts whose `not_before` passed, oldest first, with
 * `FOR UPDATE SKIP LOCKED` (claimers never wait for each other), marks them `running`
 * (their tasks' rows stay `queued` since migration 6), and builds each attempt's `Job`
 * in the same statement (the `orch_claim` function, migration 3): the task's spec, the
 * run's params, and the outputs of its direct upstream tasks as JSON text in
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
  return (await claimNext(sql, options)).claimed;
}

/**
 * {@link claimAttempts}, also telling how long until the next delayed retry is due when
 * nothing could be claimed (one statement either way).
 * @param sql A client on the store's schema.
 * @param options As {@link claimAttempts}.
 * @returns The claimed attempts and the wait.
 */
export async function claimNext(
  sql: Sql | TransactionSql,
  options: { worker: string; limit: number; lostMs: number },
): Promise<Claim> {
  const [{ c }] = await sql<
    { c: { claimed: ClaimRow[]; due_ms: number | null; sources?: RunSources } }[]
  >`select orch_claim(${options.worker}, ${options.limit}, ${options.lostMs}) as c`;
  return { claimed: c.claimed.map((r) => toClaimed(r, c.sources)), dueMs: c.due_ms };
}

/**
 * @param r An attempt as the database returns it.
 * @param sources The claimed runs' sources (the task spec names its own by index).
 * @returns The attempt and the `Job` to run.
 */
export function toClaimed(r: ClaimRow, sources: RunSources): ClaimedAttempt {
  const source = r.spec.source ?? sources?.[r.run_id]?.[r.spec.source_ix ?? -1];
  if (!source) throw new Error(`claimed attempt ${r.id}: the source of its task is missing`);
  const job: Job = {
    source,
    params: r.spec.params,
    upstream: r.upstream ?? [],
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
}
