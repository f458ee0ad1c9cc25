/**
 * Schedules: loading and validating `configs/schedules/*.yaml`, and the pure decisions
 * of the scheduler (which fire times are due at a tick, what a tick enqueues or skips).
 * The scheduler loop, the lock and the runs live in the core engine.
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
