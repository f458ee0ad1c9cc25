import type { CliIo } from "./io.ts";

/**
 * Start-up timestamps for profiling `orch` (ORCH_TRACE_STARTUP=1): each step writes
 * `orch trace <ms since process start> <step>` to stderr. Off, a step costs one comparison.
 * One process-wide sink, set by `runCli` from the environment it was given (tests run the
 * CLI in child processes, so no test sees another's setting).
 * @module
 */

let sink: ((text: string) => void) | null = null;

/**
 * Turns tracing on when the environment asks for it, off otherwise.
 * @param io The CLI's streams and environment.
 */
export function configureStartupTrace(io: CliIo): void {
  sink = io.env.ORCH_TRACE_STARTUP === "1" ? io.stderr : null;
}

/**
 * Writes a timestamp for `step` when tracing is on.
 * @param step What has just finished.
 */
export function traceStep(step: string): void {
  if (sink) sink(`orch trace ${performance.now().toFixed(1)} ${step}\n`);
}
