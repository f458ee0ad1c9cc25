import { resolve } from "node:path";
import { prepareRun } from "../../run/prepare.ts";
import { parseCommandArgs } from "../args.ts";
import type { AppContext } from "../context.ts";
import { UsageError } from "../errors.ts";
import { renderDryRun, renderSummary, runResultJson } from "../render.ts";
import { exitCodeOf, reportTaskErrors, runInForeground } from "./_foreground.ts";
import { runDeps } from "./_scheduling.ts";
import { isDistributed, runOnCluster, submitToCluster } from "./_cluster.ts";

export const RUN_HELP =
  `Usage: orch run --dag FILE [--dry-run] [--json] [--quiet] [--distributed [--detach]]

Runs a DAG once, now.

Options:
  --dag FILE    DAG YAML file (may also be given as the first argument)
  --dry-run     Load, validate and plan, print the execution plan; run nothing, write nothing
  --json        Print one JSON object with the result instead of the summary
  --quiet, -q   No progress lines on stderr
  --distributed PostgreSQL store only: submit the run to the cluster, where 'orch worker'
                processes (on any host) run its tasks, and wait for it, printing progress
                as a local run does (same as ORCH_EXECUTION=distributed); SIGINT/SIGTERM
                cancel it cluster-wide
  --detach      With distributed execution: print the run id (--json: {"run_id":...}) and
                exit 0 at once; the workers finish the run ('orch runs' shows it)
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
    detach: { type: "boolean" },
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
  const distributed = isDistributed(ctx, values.distributed, "run");
  const quiet = Boolean(values.json || values.quiet);
  if (values.detach && !distributed) {
    throw new UsageError("--detach needs distributed execution (--distributed)", "run");
  }
  if (values.detach) {
    const runId = await submitToCluster(ctx, prepared, { trigger: "manual" });
    ctx.io.stdout(values.json ? JSON.stringify({ run_id: runId }) + "\n" : runId + "\n");
    return 0;
  }
  const result = distributed
    ? await runOnCluster(ctx, prepared, { run: { trigger: "manual" }, quiet })
    : await runInForeground(ctx, prepared, {
      deps: await runDeps(ctx),
      run: { trigger: "manual" },
      quiet,
    });
  if (values.json) ctx.io.stdout(JSON.stringify(runResultJson(result)) + "\n");
  else {
    ctx.io.stdout(renderSummary(result));
    reportTaskErrors(ctx, result);
  }
  return exitCodeOf(result);
}
