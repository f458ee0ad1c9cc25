/**
 * Persistence: the task-level event log and the JSONL state store of the scheduler.
 * @module
 */
export * from "./events.ts";
export * from "./state_events.ts";
export { EventLog, LogWriteError } from "./event_log.ts";
export {
  indexBy,
  lastRuns,
  recordEvent,
  type Stamped,
  StateStore,
  type StateStoreCallOptions,
  type StateStoreOptions,
  type StateTransaction,
} from "./state_store.ts";
export type { OnWarning, ScheduleMinuteEvent, StoreWarning } from "./_scan.ts";
export { watermarksPath } from "./_watermarks.ts";
export type {
  EventLogLike,
  LivenessCheck,
  LivenessSubject,
  RunLiveness,
  RunLock,
  StateStoreLike,
  Store,
  TaskEventReader,
} from "./store.ts";
