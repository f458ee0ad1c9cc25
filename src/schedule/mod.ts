/**
 * Schedules: loading and validating `configs/schedules/*.yaml`, and the pure decisions
 * of the scheduler (which fire times are due at a tick, what a tick enqueues or skips).
 * The loop (`Scheduler`) runs what ticks enqueue through an injected launcher.
 * @module
 */
export { formatScheduleIssue, type ScheduleIssue, ScheduleValidationError } from "./errors.ts";
export {
  cronProblem,
  type Schedule,
  SCHEDULE_KEYS,
  type ScheduleEntry,
  scheduleEntrySchema,
} from "./schema.ts";
export { loadSchedules, type LoadSchedulesOptions } from "./load.ts";
export {
  type DueSchedule,
  type DueTicks,
  dueTicks,
  type FireTime,
  LATE_TICK_BOUND_MS,
  MAX_CATCHUP,
} from "./due.ts";
export {
  minuteKey,
  minuteKeys,
  type PlannedRun,
  type PlannedSkip,
  planTick,
  type TickInput,
  type TickPlan,
  type TickSchedule,
  tickWindowStart,
} from "./tick.ts";
export { localMinute, parseDuration } from "./_time.ts";
export { Scheduler, type SchedulerDeps, type TickReport } from "./scheduler.ts";
export { type LaunchRun, type QueuedOutcome, type QueuedRun, RunQueue } from "./run_queue.ts";
export { type ExplainInput, type ExplainRun, explainSchedule, nextFireTimes } from "./explain.ts";
