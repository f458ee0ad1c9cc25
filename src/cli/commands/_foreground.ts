import type { PreparedRun } from "../../run/prepare.ts";
import { runDag, type RunDagDeps, type RunDagOptions } from "../../run/run_dag.ts";
import type { RunResult } from "../../run/types.ts";
import type { EventLogLike } from "../../store/store.ts";
import type { AppContext } from "../context.ts";
import { progressPrinter } from "./_progress.ts";
import { onStopSignals } from "./_scheduling.ts";

/**
 * Runs a DAG in the foreground, as `orch run` and `orch retry` do: SIGINT/SIGTERM cancel
 * it, a failed event-log write cancels it too and then surfaces as `LogWriteError`
 * (exit 4), and progress lines go to stderr unless `quiet`.
 * @param ctx The app context.
 * @param prepared The prepared DAG.
 * @param options `deps` for `runDag`, its `run` options, and `quiet`.
 * @returns How the run ended.
 * @throws {LogWriteError} When the event log could not be written.
 */
export async function runInForeground(
  ctx: AppContext,
  prepared: PreparedRun,
  options: { deps: RunDagDeps & { events: EventLogLike }; run: RunDagOptions; quiet: boolean },
): Promise<RunResult> {
  const events = options.deps.events;
  await events.open();
  const cancel = new AbortController();
  const stop = onStopSignals((sig) => {
    ctx.io.stderr(`Received ${sig}: cancelling the run\n`);
    cancel.abort(`Run cancelled by ${sig}`);
  });
  let result: RunResult;
  try {
    result = await runDag(prepared, options.deps, {
      ...options.run,
      signal: AbortSignal.any([cancel.signal, ctx.logFailed]),
      onEvent: progressPrinter(ctx, !options.quiet),
    });
  } finally {
    stop();
  }
  await events.flush(); // a failed write ends here as LogWriteError (exit 4), not as a summary
  return result;
}

/**
 * Prints one `RunnerError:` line per failed task on stderr.
 * @param ctx The app context.
 * @param result The run's result.
 */
export function reportTaskErrors(ctx: AppContext, result: RunResult): void {
  for (const t of result.tasks) if (t.error) ctx.io.stderr(`RunnerError: ${t.error}\n`);
}

/**
 * @param result The run's result.
 * @returns 0 success, 130 cancelled, 1 failed or interrupted.
 */
export function exitCodeOf(result: RunResult): number {
  if (result.status === "success") return 0;
  return result.status === "cancelled" ? 130 : 1;
}
