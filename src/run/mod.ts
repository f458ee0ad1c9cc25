/**
 * Running DAGs: preparation shared by dry-run and live runs, the executor, backoff and
 * payload passing.
 * @module
 */
export { type PreparedRun, prepareRun } from "./prepare.ts";
export { executeDag, type ExecuteOptions } from "./executor.ts";
export { DEFAULT_MAX_DELAY_S, nextDelay } from "./backoff.ts";
export { mergePayload } from "./payload.ts";
export type { EventSink, RunResult, TaskResult } from "./types.ts";
