import { hostName } from "../../run/liveness.ts";
import type { PostgresStore } from "../../store/postgres/store.ts";
import { parseCommandArgs } from "../args.ts";
import type { AppContext } from "../context.ts";
import { UsageError } from "../errors.ts";
import { onStopSignals } from "./_scheduling.ts";

export const WORKER_HELP = `Usage: orch worker --store URL

Runs the tasks of distributed runs ('orch run --distributed', ORCH_EXECUTION=distributed,
'orch retry' and the scheduler in that mode) from the PostgreSQL store: claims up to
SCHED_MAX_PARALLEL ready attempts at once (FOR UPDATE SKIP LOCKED), runs them in this
host's worker pool, and records their ends in the database, where the same transaction
stores outputs (JSON, at most 1 MiB each) and makes dependants ready, so runs go on
without their submitter. Woken by LISTEN/NOTIFY, polls every second as a fallback.
Heartbeats its attempts; attempts of a worker silent for ORCH_WORKER_LOST_MS are failed
as worker_lost (retries apply) by the other workers. Execution is at-least-once: see
docs/SCALE-OUT.md. Workflow files must be at the same paths on every host. Stops on
SIGINT/SIGTERM after its running attempts end.

Options:
  --store URL PostgreSQL store (default ORCH_STORE; required)
  -h, --help  Show this help

Exit codes: 0 stopped by a signal, 2 no PostgreSQL store or invalid usage, 4 internal error.
Environment: ORCH_STORE, WORKFLOWS_DIR, SCHED_MAX_PARALLEL, ORCH_SANDBOX,
ORCH_WORKER_LOST_MS (default 10000).
`;

/**
 * `orch worker`: runs queued attempts of distributed runs until a signal.
 * @param ctx The app context.
 * @param args Arguments after `worker`.
 * @returns The exit code.
 */
export async function workerCommand(ctx: AppContext, args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("worker", args, {});
  if (values.help) {
    ctx.io.stdout(WORKER_HELP);
    return 0;
  }
  if (positionals.length > 0) {
    throw new UsageError(`Unexpected argument "${positionals[0]}"`, "worker");
  }
  if (ctx.storeConfig.kind !== "postgres") {
    throw new UsageError(
      "orch worker needs a PostgreSQL store: set ORCH_STORE or --store",
      "worker",
    );
  }
  const store = await ctx.store() as PostgresStore;
  await ctx.registry(); // plugin sandboxing settings are known before the pool starts
  const pool = ctx.pool();
  const { ClusterWorker } = await import("../../store/postgres/cluster/worker.ts");
  const name = `${hostName()}:${Deno.pid}`;
  const notice = (line: string) => ctx.io.stderr(`${ctx.clock.now().toISOString()} ${line}\n`);
  const db = { sql: store.sql, schema: store.config.schema };
  const worker = new ClusterWorker(db, pool, {
    name,
    lostMs: ctx.config.workerLostMs,
    onNotice: notice,
  });
  const stop = new AbortController();
  const removeSignals = onStopSignals((sig) => {
    notice(`Received ${sig}: stopping after the running attempts`);
    stop.abort();
  });
  notice(`worker ${name}: serving ${store.description}, ${pool.size} at a time`);
  try {
    await worker.serve(stop.signal);
  } finally {
    removeSignals();
  }
  notice(`worker ${name}: stopped after ${worker.finished} attempt(s)`);
  return 0;
}
