import type { PreparedRun } from "../../../run/prepare.ts";
import type { Trigger } from "../../events.ts";
import type { JsonObject } from "../../../workflows/types.ts";
import { DEFAULT_MAX_DELAY_S } from "../../../run/backoff.ts";
import type { Sql } from "../connect.ts";
import { mirrorRuns } from "../_run_rows.ts";
import { appendStateEvents, insertEvents, notifyAll, QUEUED_CHANNEL, runEvent } from "./_events.ts";
import { countDown } from "./_finish.ts";
import type { ClusterRunSpec, ClusterTaskSpec } from "./_run_spec.ts";
import { withRetry } from "./_retry.ts";
import { distinctJson } from "./_distinct.ts";

/** The database of a cluster: a client on the store's schema. */
export interface ClusterDb {
  sql: Sql;
  schema: string;
}

/** How a cluster run is identified and linked (as `runDag`'s options). */
export interface SubmitOptions {
  runId: string;
  trigger?: Trigger;
  scheduleId?: string;
  minute?: string;
  retryOf?: string;
  runParams?: JsonObject;
  /** Outputs reused from an earlier run (`orch retry`), by task id. */
  reuse?: ReadonlyMap<string, JsonObject>;
  /** Recorded as the submitter in `run_started`. */
  host: string;
  pid: number;
  /** Longest retry delay in seconds (default 300). */
  maxDelayS?: number;
}

/**
 * Submits a prepared DAG to the cluster in one transaction: `run_started` (state
 * events, `runs` row in mode `cluster` with `remaining`), one `run_tasks` row per task
 * with its edges (`ups`, `downs`), `dag_start` (and `task_ok` of reused outputs) in
 * `events`, and a `task_queue` row per ready task, with `NOTIFY orch_task_queued`. From
 * then on workers
 * decide everything in their transactions; the submitter may exit.
 * @param db The cluster database.
 * @param prepared The validated DAG and plan.
 * @param options Run id, links, params, reused outputs.
 * @returns The run id.
 */
export async function submitRun(
  db: ClusterDb,
  prepared: PreparedRun,
  options: SubmitOptions,
): Promise<string> {
  const { dag, plan, sources } = prepared;
  const n = dag.tasks.length;
  const runId = options.runId;
  const tag = { run_id: runId, dag_name: dag.name, tenant_id: dag.tenantId };
  const trigger = options.trigger ?? "manual";
  const reused = dag.tasks.map((t) => options.reuse?.get(t.id));
  const waiting = plan.dependsOn.map((deps) => deps.filter((d) => !reused[d]).length);
  const ready = dag.tasks.map((_, i) => !reused[i] && waiting[i] === 0);
  const remaining = reused.filter((r) => !r).length;
  const spec: ClusterRunSpec = {
    ...tag,
    trigger,
    ...(options.scheduleId ? { schedule_id: options.scheduleId } : {}),
    ...(options.retryOf ? { retry_of: options.retryOf } : {}),
    ...(dag.file ? { dag_file: dag.file } : {}),
    ...(options.runParams ? { run_params: options.runParams } : {}),
    max_delay_s: options.maxDelayS ?? DEFAULT_MAX_DELAY_S,
  };
  // Each distinct source once (runs.sources); the tasks name theirs by index.
  const runSources = distinctJson(sources);
  // Each distinct task spec parsed once by the server (copied into each task's row).
  const specs = distinctJson(dag.tasks.map((t, i): ClusterTaskSpec => ({
    source_ix: runSources.index[i],
    workflow_ref: t.workflowRef,
    params: t.params as JsonObject,
    retries: t.retries,
    retry_delay_s: t.retryDelayS,
    ...(t.timeoutS !== undefined ? { timeout_ms: t.timeoutS * 1000 } : {}),
  })));
  const downs: number[][] = dag.tasks.map(() => []);
  plan.dependsOn.forEach((deps, down) => deps.forEach((up) => downs[up].push(down)));
  const taskRows = JSON.stringify(dag.tasks.map((_, i) => [
    plan.ids[i],
    reused[i] ? "success" : ready[i] ? "queued" : "pending",
    waiting[i],
    ready[i] ? 1 : 0,
    specs.index[i],
    reused[i] ?? null,
    reused[i] ? options.retryOf ?? null : null,
    intArray(plan.dependsOn[i]),
    intArray(downs[i]),
  ]));
  const edges = plan.dependsOn.flatMap((deps, down) => deps.map((up) => [up, down]));
  const now = Date.now();
  const events: Record<string, unknown>[] = [runEvent(tag, now, {
    event: "dag_start",
    tasks: n,
    trigger,
    ...(dag.file ? { dag_file: dag.file } : {}),
    ...(options.scheduleId ? { schedule_id: options.scheduleId } : {}),
    ...(options.retryOf ? { retry_of: options.retryOf } : {}),
    task_ids: plan.ids,
    edges: edges.map(([up, down]) => [plan.ids[up], plan.ids[down]]),
  })];
  for (const i of plan.order) {
    if (!reused[i]) continue;
    events.push(runEvent(tag, now, {
      event: "task_ok",
      task_id: plan.ids[i],
      attempt: 0,
      duration_s: 0,
      output: reused[i],
      reused_from: options.retryOf,
    }));
  }
  await withRetry(() =>
    db.sql.begin(async (sql) => {
      const started = await appendStateEvents(sql, db.schema, [{
        event: "run_started",
        run_id: runId,
        ...(options.scheduleId ? { schedule_id: options.scheduleId } : {}),
        ...(options.minute ? { minute: options.minute } : {}),
        dag_name: dag.name,
        ...(dag.file ? { dag: dag.file } : {}),
        tenant_id: dag.tenantId,
        trigger,
        ...(options.retryOf ? { retry_of: options.retryOf } : {}),
        ...(options.runParams && Object.keys(options.runParams).length
          ? { params: options.runParams }
          : {}),
        pid: options.pid,
        host: options.host,
      }]);
      await mirrorRuns(sql, started);
      await sql`update runs set mode = 'cluster', remaining = ${remaining},
          spec = ${JSON.stringify(spec)}::text::jsonb, sources = ${runSources.json}::text::jsonb
        where run_id = ${runId}`;
      // One JSON document of rows, not an array per column: a `text[]` of 10,000 JSON
      // specs is escaped by the client and unescaped and cast by the server, about twice
      // the time of parsing one document (round 5). The edges ride in the rows (`ups`,
      // `downs`: migration 6), as array literals the server parses cheaply; each row names
      // its spec among the distinct ones (parsed once, materialized: never per row).
      await sql`
        insert into run_tasks (run_id, idx, task_id, state, waiting, attempts, spec, output,
          reused_from, ups, downs)
        with s as materialized (select ${specs.json}::text::jsonb as specs)
        select ${runId}, r.idx - 1, r.t->>0, r.t->>1, (r.t->>2)::int, (r.t->>3)::int,
          s.specs->((r.t->>4)::int), nullif(r.t->5, 'null'::jsonb), r.t->>6, (r.t->>7)::int[],
          (r.t->>8)::int[]
        from s, jsonb_array_elements(${taskRows}::text::jsonb) with ordinality as r(t, idx)`;
      await insertEvents(sql, events);
      const roots = plan.order.filter((i) => ready[i]);
      if (roots.length > 0) {
        await sql`
          insert into task_queue (run_id, idx, task_id, attempt)
          select ${runId}, idx, task_id, 1
          from unnest(${roots}::int[], ${
          roots.map((i) => plan.ids[i])
        }::text[]) as u(idx, task_id)`;
        await notifyAll(sql, QUEUED_CHANNEL, [runId]);
      }
      if (remaining === 0) {
        await countDown(sql, { runId, decided: 0, schema: db.schema });
      }
    })
  );
  return runId;
}

/** A PostgreSQL `int[]` literal, or null for none (`unnest(null)` is empty). */
function intArray(xs: readonly number[]): string | null {
  return xs.length > 0 ? `{${xs.join(",")}}` : null;
}
