import { planRetry } from "../../run/retry.ts";
import { prepareRun } from "../../run/prepare.ts";
import { parseCommandArgs } from "../args.ts";
import type { AppContext } from "../context.ts";
import { UsageError } from "../errors.ts";
import { renderSummary, runResultJson } from "../render.ts";
import { exitCodeOf, reportTaskErrors, runInForeground } from "./_foreground.ts";
import { runDeps } from "./_scheduling.ts";
import { isDistributed, runOnCluster } from "./_cluster.ts";

export const RETRY_HELP = `Usage: orch retry RUN_ID [--json] [--quiet] [--distributed]

Re-runs a failed, cancelled or interrupted run as a new run (trigger "retry", linked by
retry_of). Tasks that succeeded in that run are not run again: their recorded outputs
(the task_ok events of the event log) are reused, so only failed and skipped tasks run.
The DAG file is read again, with the run params of the original run.

Options:
  --json        Print one JSON object with the result instead of the summary
  --quiet, -q   No progress lines on stderr
  --distributed PostgreSQL store only: submit the retry to the cluster ('orch worker's run
                it) and wait (same as ORCH_EXECUTION=distributed)
  --store URL   PostgreSQL store (default ORCH_STORE, else the JSONL files)
  -h, --help    Show this help

Exit codes: 0 success, 1 a task failed, 2 unknown run id, a run that succeeded or is
still running, or an invalid DAG, 4 internal error.
`;

/**
 * `orch retry RUN_ID`: re-runs a run from its failed tasks.
 * @param ctx The app context.
 * @param args Arguments after `retry`.
 * @returns The exit code.
 */
export async function retryCommand(ctx: AppContext, args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("retry", args, {
    json: { type: "boolean" },
    quiet: { type: "boolean", short: "q" },
    distributed: { type: "boolean" },
  });
  if (values.help) {
    ctx.io.stdout(RETRY_HELP);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError("Missing RUN_ID", "retry");
  if (positionals.length > 1) {
    throw new UsageError(`Unexpected argument "${positionals[1]}"`, "retry");
  }
  const deps = await runDeps(ctx);
  const { backend, pool } = deps;
  const plan = await planRetry(positionals[0], {
    store: backend.state,
    taskEvents: backend.taskEvents,
  });
  const prepared = await prepareRun(plan.dagPath, { registry: await ctx.registry(), pool });
  const run = {
    trigger: "retry" as const,
    retryOf: plan.retryOf,
    scheduleId: plan.scheduleId,
    runParams: plan.runParams,
    reuse: plan.reuse,
  };
  const quiet = Boolean(values.json || values.quiet);
  const result = isDistributed(ctx, values.distributed, "retry")
    ? await runOnCluster(ctx, prepared, { run, quiet })
    : await runInForeground(ctx, prepared, { deps, run, quiet });
  if (values.json) {
    ctx.io.stdout(JSON.stringify({ ...runResultJson(result), retry_of: plan.retryOf }) + "\n");
  } else {
    ctx.io.stdout(`Retry of ${plan.retryOf}: run ${result.runId}\n` + renderSummary(result));
    reportTaskErrors(ctx, result);
  }
  return exitCodeOf(result);
}
