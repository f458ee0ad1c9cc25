/**
 * Distributed execution on PostgreSQL ("cluster runs"): `submitRun` writes a run, its
 * tasks and edges and queues the ready tasks; `ClusterWorker` (`orch worker`) claims
 * attempts, runs them and, in the transaction that records their ends, makes
 * dependants ready, retries, skips and ends the run; `reapLostAttempts` fails attempts
 * of workers that stopped heartbeating (`worker_lost`), also from schedulers through
 * `LostAttemptReaper`; `followRun` follows a run's
 * events to its end; `cancelClusterRun` cancels one everywhere.
 * @module
 */
export { type ClusterDb, type SubmitOptions, submitRun } from "./submit.ts";
export { claimAttempts, type ClaimedAttempt } from "./claim.ts";
export {
  completeAttempts,
  type FinishedAttempt,
  MAX_OUTPUT_BYTES,
  reapLostAttempts,
} from "./complete.ts";
export { cancelClusterRun } from "./cancel.ts";
export { LostAttemptReaper, type LostAttemptReaperOptions } from "./reaper.ts";
export { type FollowOptions, followRun, readResult } from "./follow.ts";
export { ClusterWorker, type ClusterWorkerOptions } from "./worker.ts";
export { PROGRESS_CHANNEL, QUEUED_CHANNEL } from "./_events.ts";
