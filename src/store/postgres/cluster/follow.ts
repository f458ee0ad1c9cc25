import type { RunEvent, RunStatus, TaskStatus, Trigger } from "../../events.ts";
import type { RunResult, TaskResult } from "../../../run/types.ts";
import type { JsonObject } from "../../../workflows/types.ts";
import type { ClusterDb } from "./submit.ts";
import { PROGRESS_CHANNEL } from "./_events.ts";
import { cancelClusterRun } from "./cancel.ts";
import { reapLostAttempts } from "./complete.ts";

/** Options of {@link followRun}. */
export interface FollowOptions {
  /** Called with each of the run's task-level events, in order. */
  onEvent?: (event: RunEvent) => void;
  /** Aborting it cancels the run cluster-wide (its reason is recorded). */
  signal?: AbortSignal;
  /** Poll interval when no notification arrives (default 1000 ms). */
  pollMs?: number;
  /** Also reap attempts of lost workers (any run) with this bound, every half of it. */
  lostMs?: number;
  /** Task indexes in the order results are listed (default index order). */
  order?: readonly number[];
}

/**
 * Follows a cluster run from its events until `dag_done`: reads the `events` rows of
 * the run after the last one seen, woken by `NOTIFY orch_run_progress` (payload: the
 * run id) with polling as the fallback and a re-read whenever listening (re)starts.
 * Meanwhile reaps lost workers' attempts, so a run whose workers all died still ends.
 * @param db The cluster database.
 * @param runId The run.
 * @param options Progress callback, cancellation, timings.
 * @returns How the run ended, as a local run's result.
 */
export async function followRun(
  db: ClusterDb,
  runId: string,
  options: FollowOptions = {},
): Promise<RunResult> {
  let wake: () => void = () => {};
  let woken = false;
  const poke = () => {
    woken = true;
    wake();
  };
  const sub = await db.sql.listen(PROGRESS_CHANNEL, (p) => p === runId && poke(), poke);
  const onAbort = () => poke();
  options.signal?.addEventListener("abort", onAbort);
  let cancelled = false;
  let last = "0";
  let lastReap = Date.now();
  try {
    while (true) {
      if (options.signal?.aborted && !cancelled) {
        cancelled = true;
        await cancelClusterRun(db, runId, String(options.signal.reason ?? "Run cancelled"));
      }
      woken = false;
      const rows = await db.sql<{ id: string; body: RunEvent }[]>`
        select id, body from events where run_id = ${runId} and id > ${last} order by id`;
      let done = false;
      for (const r of rows) {
        last = r.id;
        options.onEvent?.(r.body);
        if (r.body.event === "dag_done") done = true;
      }
      if (done) break;
      if (options.lostMs && Date.now() - lastReap >= options.lostMs / 2) {
        lastReap = Date.now();
        await reapLostAttempts(db, { lostMs: options.lostMs }).catch(() => {});
      }
      if (woken) continue;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const wait = Math.min(options.pollMs ?? 1000, options.lostMs ? options.lostMs / 2 : 1e9);
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, wait);
      });
      clearTimeout(timer);
      wake = () => {};
    }
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    await sub.unlisten().catch(() => {});
  }
  return await readResult(db, runId, options.order);
}

/**
 * The result of an ended cluster run, from `runs` and `run_tasks`.
 * @param db The cluster database.
 * @param runId The run.
 * @param order Task indexes in listing order (default index order).
 * @returns The result.
 */
export async function readResult(
  db: ClusterDb,
  runId: string,
  order?: readonly number[],
): Promise<RunResult> {
  const [run] = await db.sql<{
    status: RunStatus;
    spec: { dag_name: string; tenant_id: string; trigger: Trigger };
    duration_s: number;
  }[]>`
    select status, spec,
      extract(epoch from (coalesce(finished, now()) - started))::float8 as duration_s
    from runs where run_id = ${runId}`;
  const rows = await db.sql<{
    idx: number;
    task_id: string;
    state: TaskStatus;
    attempts: number;
    workflow_ref: string;
    output: string | null;
    error: string | null;
    reused_from: string | null;
  }[]>`
    select idx, task_id, state, attempts, spec->>'workflow_ref' as workflow_ref,
      output::text as output, error, reused_from
    from run_tasks where run_id = ${runId} order by idx`;
  const byIdx = order ? order.map((i) => rows[i]) : rows;
  const tasks = byIdx.map((r): TaskResult => {
    const t: TaskResult = {
      id: r.task_id,
      workflowRef: r.workflow_ref,
      status: r.state,
      attempts: r.reused_from ? 0 : r.attempts,
    };
    if (r.state === "success" && r.output !== null) t.output = JSON.parse(r.output) as JsonObject;
    if (r.error) t.error = r.error;
    if (r.reused_from) t.reusedFrom = r.reused_from;
    return t;
  });
  const count = (s: TaskStatus) => tasks.filter((t) => t.status === s).length;
  return {
    runId,
    dagName: run.spec.dag_name,
    tenantId: run.spec.tenant_id,
    status: run.status,
    trigger: run.spec.trigger,
    durationS: Math.round(run.duration_s * 1000) / 1000,
    tasks,
    succeeded: count("success"),
    failed: count("failed"),
    skipped: count("skipped"),
  };
}
