/**
 * Task pools: run attempts with bounded concurrency in Web Workers (`WorkerPool`) or on
 * the calling thread (`InlinePool`), behind one `TaskPool` interface.
 * @module
 */
export type {
  FollowHandler,
  Job,
  JobHandler,
  JobHooks,
  JobOutcome,
  TaskPool,
  UpstreamOutput,
} from "./task_pool.ts";
export type { WorkflowInfo } from "./protocol.ts";
export { type WorkerLike, WorkerPool, type WorkerPoolOptions } from "./worker_pool.ts";
export type { MemoryIncident, MemoryLimitOptions, MemorySuspect } from "./memory_watchdog.ts";
export { InlinePool } from "./inline_pool.ts";
