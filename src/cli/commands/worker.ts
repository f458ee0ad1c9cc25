import { hostName } from "../../run/liveness.ts";
import type { PostgresStore } from "../../store/postgres/store.ts";
import { parseCommandArgs } from "../args.ts";
import type { AppContext } from "../context.ts";
import { UsageError } from "../errors.ts";
import { onStopSignals } from "./_scheduling.ts";

export const WORKER_HELP = `Usage: orch worker --store URL [--concurrency N] [--name NAME]

Runs the tasks of distributed runs ('orch run --distributed', ORCH_EXECUTION=distributed,
'orch retry' and the scheduler in that mode) from the PostgreSQL store: claims up to
--concurrency ready attempts at once (FOR UPDATE SKIP LOCKED), runs them in this host's
worker pool of that size, and records their ends in the database, where the same
transaction stores outputs (JSON, at most 1 MiB each) and makes dependants ready, so runs
go on without their submitter. Woken by LISTEN/NOTIFY, polls every second as a fallback.
Heartbeats its attempts; attempts of a worker silent for ORCH_WORKER_LOST_MS are failed
as worker_lost (retries apply) by the other workers, a waiting submitter, or the
scheduler. Execution is at-least-once: see docs/SCALE-OUT.md. Workflow files must be at
the same paths on every host. Stops on SIGINT/SIGTERM after its running attempts end.

Options:
  --store URL        PostgreSQL store (default ORCH_STORE; required)
  --concurrency N    Attempts run at once, the pool size (default SCHED_MAX_PARALLEL, 3)
  --name NAME        Who claims, in task_queue.claimed_by and worker_lost messages
                     (default HOST:PID; give each live worker its own name)
  -h, --help         Show this help

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
  const { values, positionals } = parseCommandArgs("worker", args, {
    concurrency: { type: "string" },
    name: { type: "string" },
  });
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
  const size = parseConcurrency(values.concurrency as string | undefined, ctx.config.maxParallel);
  const name = parseName(values.name as string | undefined) ?? `${hostName()}:${Deno.pid}`;
  const store = await ctx.store() as PostgresStore;
  await ctx.registry(); // plugin sandboxing settings are known before the pool starts
  const pool = ctx.pool(size);
  const { ClusterWorker } = await import("../../store/postgres/cluster/worker.ts");
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

/** Largest `--concurrency`: each slot is a Web Worker (a V8 isolate) on this host. */
const MAX_CONCURRENCY = 1024;

/**
 * @param value The `--concurrency` value.
 * @param dflt SCHED_MAX_PARALLEL.
 * @returns The pool size.
 * @throws {UsageError} When it is not a whole number from 1 to 1024.
 */
function parseConcurrency(value: string | undefined, dflt: number): number {
  if (value === undefined) return dflt;
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < 1 || n > MAX_CONCURRENCY) {
    throw new UsageError(
      `Invalid --concurrency "${value}": expected a whole number from 1 to ${MAX_CONCURRENCY}`,
      "worker",
    );
  }
  return n;
}

/**
 * @param value The `--name` value.
 * @returns The name, or undefined for the default.
 * @throws {UsageError} When it is empty, longer than 200 characters or has control characters.
 */
function parseName(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  // deno-lint-ignore no-control-regex
  if (value.trim() === "" || value.length > 200 || /[\x00-\x1f\x7f]/.test(value)) {
    throw new UsageError(
      `Invalid --name "${value}": expected 1 to 200 printable characters`,
      "worker",
    );
  }
  return value;
}
