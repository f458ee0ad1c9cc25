import { newRunId } from "../../lib/ids.ts";
import type { PreparedRun } from "../../run/prepare.ts";
import { hostName } from "../../run/liveness.ts";
import type { RunDagOptions } from "../../run/run_dag.ts";
import type { RunResult } from "../../run/types.ts";
import type { ClusterDb } from "../../store/postgres/cluster/mod.ts";
import type { PostgresStore } from "../../store/postgres/store.ts";
import type { AppContext } from "../context.ts";
import { UsageError } from "../errors.ts";
import { progressPrinter } from "./_progress.ts";
import { onStopSignals } from "./_scheduling.ts";

/**
 * Whether this command runs its DAG on the cluster (`--distributed` or
 * ORCH_EXECUTION=distributed).
 * @param ctx The app context.
 * @param flag The `--distributed` flag.
 * @param command The command, for usage errors.
 * @returns True for distributed execution.
 * @throws {UsageError} When it is asked for without a PostgreSQL store.
 */
export function isDistributed(ctx: AppContext, flag: unknown, command: string): boolean {
  const distributed = Boolean(flag) || ctx.config.execution === "distributed";
  if (distributed && ctx.storeConfig.kind !== "postgres") {
    throw new UsageError(
      "Distributed execution needs a PostgreSQL store: set ORCH_STORE or --store",
      command,
    );
  }
  return distributed;
}

/**
 * @param ctx The app context (its store must be PostgreSQL).
 * @returns The cluster database of the store.
 */
export async function clusterDb(ctx: AppContext): Promise<ClusterDb> {
  const store = await ctx.store() as PostgresStore;
  return { sql: store.sql, schema: store.config.schema };
}

/**
 * Submits a prepared DAG to the cluster (see `submitRun`).
 * @param ctx The app context.
 * @param prepared The DAG.
 * @param run Trigger, links, params and reused outputs.
 * @returns The run id.
 */
export async function submitToCluster(
  ctx: AppContext,
  prepared: PreparedRun,
  run: RunDagOptions,
): Promise<string> {
  const { submitRun } = await import("../../store/postgres/cluster/submit.ts");
  const runId = run.runId ?? newRunId(ctx.clock.now());
  return await submitRun(await clusterDb(ctx), prepared, {
    runId,
    trigger: run.trigger,
    scheduleId: run.scheduleId,
    minute: run.minute,
    retryOf: run.retryOf,
    runParams: run.runParams,
    reuse: run.reuse,
    host: hostName(),
    pid: Deno.pid,
  });
}

/**
 * Submits a run to the cluster and waits for its end, printing the same progress
 * lines as a local run (and once, on stderr, when no worker is alive to take it);
 * SIGINT/SIGTERM cancel it cluster-wide.
 * @param ctx The app context.
 * @param prepared The DAG.
 * @param options The run's options and `quiet`.
 * @returns How the run ended.
 */
export async function runOnCluster(
  ctx: AppContext,
  prepared: PreparedRun,
  options: { run: RunDagOptions; quiet: boolean },
): Promise<RunResult> {
  // Listening before the submit: a signal that arrives while the run is submitted, or
  // while the modules below load, must cancel it (followRun does at once), not kill the
  // process and leave the run to the workers.
  const cancel = new AbortController();
  const stop = onStopSignals((sig) => {
    ctx.io.stderr(`Received ${sig}: cancelling the run\n`);
    cancel.abort(`Run cancelled by ${sig}`);
  });
  let unwatch = () => Promise.resolve();
  try {
    const runId = await submitToCluster(ctx, prepared, options.run);
    const { followRun } = await import("../../store/postgres/cluster/follow.ts");
    const presence = await import("../../store/postgres/worker_presence.ts");
    const db = await clusterDb(ctx);
    unwatch = presence.watchForWorkers(db.sql, {
      schema: db.schema,
      runId,
      lostMs: ctx.config.workerLostMs,
      onWaiting: () => ctx.io.stderr(`${presence.NO_WORKER_MESSAGE}\n`),
    });
    return await followRun(db, runId, {
      onEvent: progressPrinter(ctx, !options.quiet),
      signal: cancel.signal,
      lostMs: ctx.config.workerLostMs,
      order: prepared.plan.order,
    });
  } finally {
    await unwatch();
    stop();
  }
}
