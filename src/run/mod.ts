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
export { runDag, type RunDagDeps, type RunDagOptions } from "./run_dag.ts";
export { RunNotFoundError, RunNotRetryableError } from "./errors.ts";
export {
  acquireRunLock,
  defaultLiveness,
  FileRunLiveness,
  hostName,
  isRunLockHeld,
  processMayBeAlive,
  type RunLock,
  runLockPath,
  runsDir,
} from "./liveness.ts";
export {
  findUnfinishedRuns,
  isRunDead,
  type LivenessProbe,
  recoverDeadRuns,
  recoverInTransaction,
  type Recovery,
  type RecoveryBackend,
  recoveryBackend,
  type RecoveryOptions,
  STALE_LOCK_MS,
  UNFINISHED_HORIZON_MS,
  type UnfinishedRun,
} from "./recovery.ts";
export {
  findRun,
  listRuns,
  type ListRunsOptions,
  type RunRow,
  type RunRowStatus,
} from "./run_list.ts";
export { JsonlTaskEvents, readRunTasks, type RunTaskRecord } from "./run_tasks.ts";
export { planRetry, type RetryPlan } from "./retry.ts";
export { JsonlStore, openStore, type OpenStoreOptions } from "./open_store.ts";
