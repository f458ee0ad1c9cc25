import type { NewEvent, ScheduleEnqueuedEvent, ScheduleSkippedEvent } from "../store/mod.ts";
import { dueTicks, LATE_TICK_BOUND_MS } from "./due.ts";
import type { Schedule } from "./schema.ts";
import { floorMinute } from "./_time.ts";

/** A schedule-minute to enqueue, in the shape of its `schedule_enqueued` event. */
export type PlannedRun = NewEvent<ScheduleEnqueuedEvent>;
/** A schedule-minute that will not run, in the shape of its `schedule_skipped` event. */
export type PlannedSkip = NewEvent<ScheduleSkippedEvent>;

/** The fields of a schedule that {@link planTick} needs. */
export type TickSchedule = Pick<
  Schedule,
  "id" | "cron" | "timezone" | "catchupWindowMs" | "enabled" | "overlap" | "dag" | "tenant"
>;

/** Everything a tick decides from. */
export interface TickInput {
  schedules: readonly TickSchedule[];
  /** Schedule id to the last minute handled (persisted by the store). */
  watermarks: ReadonlyMap<string, Date>;
  /** {@link minuteKey}s of the schedule-minutes already enqueued or skipped. */
  enqueuedKeys: ReadonlySet<string>;
  /** Schedule id to its runs enqueued or started and not yet finished. */
  runningBySchedule: ReadonlyMap<string, number>;
  /** The tick's instant. */
  now: Date;
  /** Overrides how far back a late tick looks without `catchup_window`. */
  lateBoundMs?: number;
}

/** What a tick decided. Record `enqueue` and `skip`, then persist `watermarks`. */
export interface TickPlan {
  enqueue: PlannedRun[];
  skip: PlannedSkip[];
  /** New watermarks of the schedules in the input (the current minute). */
  watermarks: Map<string, Date>;
}

/**
 * The de-duplication key of a schedule-minute: the schedule id and the UTC instant.
 * Keyed on the instant, not the local minute, so the two occurrences of a repeated
 * local minute (DST fall back) are told apart (see `due.ts`).
 * @param scheduleId The schedule.
 * @param minuteUtc The fire time, as a Date or ISO 8601 string.
 * @returns The key.
 */
export function minuteKey(scheduleId: string, minuteUtc: string | Date): string {
  return `${scheduleId} ${new Date(minuteUtc).toISOString()}`;
}

/**
 * The keys of recorded `schedule_enqueued` / `schedule_skipped` events.
 * @param events Events with `schedule_id` and `minute_utc`.
 * @returns Their {@link minuteKey}s.
 */
export function minuteKeys(
  events: Iterable<{ schedule_id: string; minute_utc: string }>,
): Set<string> {
  const keys = new Set<string>();
  for (const e of events) keys.add(minuteKey(e.schedule_id, e.minute_utc));
  return keys;
}

/**
 * The earliest fire time {@link planTick} can consider at `now`: read the recorded
 * schedule-minutes from here on (`StateTransaction.scheduleMinutes(since)`) to build
 * `enqueuedKeys`.
 * @param schedules The schedules of the tick.
 * @param now The tick's instant.
 * @param options `lateBoundMs` as given to {@link planTick}.
 * @returns The start of the look-back window.
 */
export function tickWindowStart(
  schedules: readonly Pick<TickSchedule, "catchupWindowMs">[],
  now: Date,
  options: { lateBoundMs?: number } = {},
): Date {
  let lookBack = options.lateBoundMs ?? LATE_TICK_BOUND_MS;
  for (const s of schedules) lookBack = Math.max(lookBack, s.catchupWindowMs ?? 0);
  return new Date(floorMinute(now).getTime() - lookBack);
}

/**
 * Decides one tick: for every enabled schedule, the fire times since its watermark
 * ({@link dueTicks}), minus those already recorded (`enqueuedKeys`), split into runs to
 * enqueue and minutes to skip (`overlap` while a run of an `overlap: skip` schedule is
 * unfinished, `catchup_cap` beyond the catch-up cap). Runs enqueued by the same tick do
 * not count as overlapping each other. Disabled schedules enqueue nothing, but their
 * watermark advances, so enabling one later does not catch up the disabled time. Pure:
 * the caller reads the inputs and records the result under the state store's lock.
 * @param input Schedules, watermarks, recorded keys, unfinished runs and `now`.
 * @returns Runs to enqueue, minutes to skip and the new watermarks.
 */
export function planTick(input: TickInput): TickPlan {
  const plan: TickPlan = { enqueue: [], skip: [], watermarks: new Map() };
  const current = floorMinute(input.now);
  for (const s of input.schedules) {
    plan.watermarks.set(s.id, current);
    if (!s.enabled) continue;
    const lastTick = input.watermarks.get(s.id) ?? null;
    const { due, skipped } = dueTicks(s, lastTick, input.now, { lateBoundMs: input.lateBoundMs });
    const isNew = (f: { minuteUtc: string }) =>
      !input.enqueuedKeys.has(minuteKey(s.id, f.minuteUtc));
    const running = input.runningBySchedule.get(s.id) ?? 0;
    for (const f of due.filter(isNew)) {
      const at = { schedule_id: s.id, minute: f.minute, minute_utc: f.minuteUtc };
      if (s.overlap === "skip" && running > 0) {
        const detail = `${running} run${running === 1 ? "" : "s"} of "${s.id}" still unfinished`;
        plan.skip.push({ event: "schedule_skipped", ...at, reason: "overlap", detail });
        continue;
      }
      const run: PlannedRun = {
        event: "schedule_enqueued",
        ...at,
        timezone: s.timezone,
        dag: s.dag,
        tenant: s.tenant,
      };
      plan.enqueue.push(f.catchup ? { ...run, catchup: true } : run);
    }
    for (const f of skipped.filter(isNew)) {
      plan.skip.push({
        event: "schedule_skipped",
        schedule_id: s.id,
        minute: f.minute,
        minute_utc: f.minuteUtc,
        reason: "catchup_cap",
      });
    }
  }
  return plan;
}
