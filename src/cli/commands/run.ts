import { resolve } from "node:path";
import { prepareRun } from "../../run/prepare.ts";
import type { RunResult } from "../../run/types.ts";
import { parseCommandArgs } from "../args.ts";
import type { AppContext } from "../context.ts";
import { UsageError } from "../errors.ts";
import { renderDryRun, renderSummary, runResultJson } from "../render.ts";
import { exitCodeOf, reportTaskErrors, runInForeground } from "./_foreground.ts";
import { runDeps } from "./_scheduling.ts";
import type { TaskPool } from "../../pool/task_pool.ts";
import type { Store } from "../../store/store.ts";
import type { PostgresStore } from "../../store/postgres/store.ts";
import type { QueuePool } from "../../store/postgres/task_queue.ts";

export const RUN_HELP = `Usage: orch run --dag FILE [--dry-run] [--json] [--quiet]

Runs a DAG once, now.

Options:
  --dag FILE    DAG YAML file (may also be given as the first argument)
  --dry-run     Load, validate and plan, print the execution plan; run nothing, write nothing
  --json        Print one JSON object with the result instead of the summary
  --quiet, -q   No progress lines on stderr
  --distributed Experimental, PostgreSQL store only: queue the tasks in task_queue for
                'orch worker' processes (on any host) and wait (same as ORCH_EXECUTION=distributed)
  --store URL   PostgreSQL store (default ORCH_STORE, else the JSONL files)
  -h, --help    Show this help

Exit codes: 0 success, 1 a task failed, 2 invalid input, 4 internal error.

Environment: ORCH_STORE, ORCH_EXECUTION, ORCH_EVENTS_PATH, WORKFLOWS_DIR, SCHED_MAX_PARALLEL.
`;

/**
 * `orch run`: dry-run or execute a DAG.
 * @param ctx The app context.
 * @param args Arguments after `run`.
 * @returns The exit code.
 */
export async function runCommand(ctx: AppContext, args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("run", args, {
    dag: { type: "string" },
    "dry-run": { type: "boolean" },
    json: { type: "boolean" },
    quiet: { type: "boolean", short: "q" },
    distributed: { type: "boolean" },
  });
  if (values.help) {
    ctx.io.stdout(RUN_HELP);
    return 0;
  }
  const file = (values.dag as string | undefined) ?? positionals[0];
  if (!file) throw new UsageError("Missing --dag FILE", "run");
  if (positionals.length > (values.dag ? 0 : 1)) {
    throw new UsageError(`Unexpected argument "${positionals.at(-1)}"`, "run");
  }
  const path = resolve(ctx.io.cwd, file);
  const prepared = await prepareRun(path, { registry: await ctx.registry(), pool: ctx.pool() });
  if (values["dry-run"]) {
    ctx.io.stdout(renderDryRun(prepared));
    return 0;
  }
  const distributed = values.distributed || ctx.config.execution === "distributed";
  if (distributed && ctx.storeConfig.kind !== "postgres") {
    throw new UsageError(
      "Distributed execution needs a PostgreSQL store: set ORCH_STORE or --store",
      "run",
    );
  }
  const deps = await runDeps(ctx);
  const queue = distributed ? await queuePool(deps.backend, ctx.pool()) : null;
  if (queue) deps.pool = queue;
  let result: RunResult;
  try {
    result = await runInForeground(ctx, prepared, {
      deps,
      run: { trigger: "manual" },
      quiet: Boolean(values.json || values.quiet),
    });
  } finally {
    await queue?.close();
  }
  if (values.json) ctx.io.stdout(JSON.stringify(runResultJson(result)) + "\n");
  else {
    ctx.io.stdout(renderSummary(result));
    reportTaskErrors(ctx, result);
  }
  return exitCodeOf(result);
}

/**
 * The pool of a distributed run: attempts go to `task_queue` for `orch worker`s.
 * @param backend The (PostgreSQL) store.
 * @param local The local pool, used to validate workflows only.
 * @returns The listening queue pool; `close()` it after the run.
 */
async function queuePool(backend: Store, local: TaskPool): Promise<QueuePool> {
  const { QueuePool } = await import("../../store/postgres/task_queue.ts");
  const pool = new QueuePool((backend as PostgresStore).aux, { local });
  await pool.open();
  return pool;
}
