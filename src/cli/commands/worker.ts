import { hostName } from "../../run/liveness.ts";
import type { PostgresStore } from "../../store/postgres/store.ts";
import { parseCommandArgs } from "../args.ts";
import type { AppContext } from "../context.ts";
import { UsageError } from "../errors.ts";
import { onStopSignals } from "./_scheduling.ts";

export const WORKER_HELP = `Usage: orch worker --store URL

Experimental. Runs the tasks of distributed runs ('orch run --distributed' or
ORCH_EXECUTION=distributed) from the PostgreSQL store's task_queue: claims up to
SCHED_MAX_PARALLEL queued attempts at once (FOR UPDATE SKIP LOCKED), runs them in this
host's worker pool and stores their outputs (JSON, at most 1 MiB each). Woken by
LISTEN/NOTIFY, polls every second as a fallback. Workflow files must be at the same
paths on every host. Stops on SIGINT/SIGTERM after its running attempts end.

Options:
  --store URL PostgreSQL store (default ORCH_STORE; required)
  -h, --help  Show this help

Exit codes: 0 stopped by a signal, 2 no PostgreSQL store or invalid usage, 4 internal error.
Environment: ORCH_STORE, WORKFLOWS_DIR, SCHED_MAX_PARALLEL, ORCH_SANDBOX.
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
  const { QueueWorker } = await import("../../store/postgres/queue_worker.ts");
  const name = `${hostName()}:${Deno.pid}`;
  const notice = (line: string) => ctx.io.stderr(`${ctx.clock.now().toISOString()} ${line}\n`);
  const worker = new QueueWorker(store.aux, pool, { name, onNotice: notice });
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
