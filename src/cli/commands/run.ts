import { resolve } from "node:path";
import { prepareRun } from "../../run/prepare.ts";
import { runDag } from "../../run/run_dag.ts";
import type { RunResult } from "../../run/types.ts";
import { parseCommandArgs } from "../args.ts";
import type { AppContext } from "../context.ts";
import { UsageError } from "../errors.ts";
import { renderDryRun, renderSummary, runResultJson } from "../render.ts";
import { progressPrinter } from "./_progress.ts";
import { onStopSignals, runDeps } from "./_scheduling.ts";

export const RUN_HELP = `Usage: orch run --dag FILE [--dry-run] [--json] [--quiet]

Runs a DAG once, now.

Options:
  --dag FILE    DAG YAML file (may also be given as the first argument)
  --dry-run     Load, validate and plan, print the execution plan; run nothing, write nothing
  --json        Print one JSON object with the result instead of the summary
  --quiet, -q   No progress lines on stderr
  --store URL   PostgreSQL store (default ORCH_STORE, else the JSONL files)
  -h, --help    Show this help

Exit codes: 0 success, 1 a task failed, 2 invalid input, 4 internal error.

Environment: ORCH_STORE, ORCH_EVENTS_PATH, WORKFLOWS_DIR, SCHED_MAX_PARALLEL.
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
  const deps = await runDeps(ctx);
  const events = deps.events;
  await events.open();
  const cancel = new AbortController();
  const stop = onStopSignals((sig) => {
    ctx.io.stderr(`Received ${sig}: cancelling the run\n`);
    cancel.abort(`Run cancelled by ${sig}`);
  });
  let result: RunResult;
  try {
    result = await runDag(prepared, deps, {
      trigger: "manual",
      signal: AbortSignal.any([cancel.signal, ctx.logFailed]),
      onEvent: progressPrinter(ctx, !values.json && !values.quiet),
    });
  } finally {
    stop();
  }
  await events.flush(); // a failed write ends here as LogWriteError (exit 4), not as a summary
  if (values.json) ctx.io.stdout(JSON.stringify(runResultJson(result)) + "\n");
  else {
    ctx.io.stdout(renderSummary(result));
    for (const t of result.tasks) if (t.error) ctx.io.stderr(`RunnerError: ${t.error}\n`);
  }
  if (result.status === "success") return 0;
  return result.status === "cancelled" ? 130 : 1;
}
