/**
 * Fire times of a schedule, computed with croner as a calculator
 * (`new Cron(expr, {timezone, paused: true}).nextRun(prev)`), never with its timers.
 *
 * ## Daylight saving time
 *
 * Fire times are computed in the schedule's time zone by croner 11, which follows
 * Vixie cron (its README, "DST handling"):
 *
 * - **Skipped hour** (spring forward, e.g. America/New_York 2026-03-08 02:00 → 03:00,
 *   Europe/Berlin 2026-03-29 02:00 → 03:00). A *fixed-time* job (a single value in
 *   minute and hour, e.g. `30 2 * * *`) fires once, at the first valid time after the
 *   gap: 03:00 local, on the same day. An *interval* job (wildcard, step, range or
 *   list in minute or hour, e.g. `*\/30 * * * *`) skips the minutes that do not exist.
 * - **Repeated hour** (fall back, e.g. America/New_York 2026-11-01 01:00–01:59 and
 *   Europe/Berlin 2026-10-25 02:00–02:59 happen twice). A fixed-time job fires once,
 *   at the first occurrence. An interval job fires on both occurrences, so it keeps
 *   its rhythm in real time.
 *
 * The local minute (`YYYY-MM-DDTHH:MM`) of the two occurrences of a repeated minute is
 * the same, so orch never de-duplicates on it: the de-duplication key is the schedule id
 * plus the UTC instant (`minute_utc`, see `minuteKey()` in `tick.ts`). Each actual
 * instant fires at most once; the local minute is kept for people reading the log.
 * A fire time moved out of the gap carries the local minute it actually runs at (03:00).
 *
 * @module
 */
import { Cron } from "croner";
import type { Schedule } from "./schema.ts";
import { CRON_MODE, floorMinute, isUtc, localMinute, MINUTE_MS } from "./_time.ts";

/** Most missed fire times enqueued per schedule per tick; the rest are skipped. */
export const MAX_CATCHUP = 10;
/** Without `catchup_window`, how far back a late tick still covers missed minutes. */
export const LATE_TICK_BOUND_MS = 5 * MINUTE_MS;
/** Most missed fire times examined per schedule per tick. */
const MAX_SCAN = 1000;

/** One fire time of a schedule. */
export interface FireTime {
  /** The instant (a whole minute). */
  at: Date;
  /** `YYYY-MM-DDTHH:MM` in the schedule's time zone. */
  minute: string;
  /** `at` as ISO 8601 UTC. */
  minuteUtc: string;
  /** False for the current minute, true for a missed one. */
  catchup: boolean;
}

/** What {@link dueTicks} found. */
export interface DueTicks {
  /** Fire times to run: missed ones oldest first (at most {@link MAX_CATCHUP}), then the current minute. */
  due: FireTime[];
  /** Missed fire times over the cap, oldest first (to record as `catchup_cap`). */
  skipped: FireTime[];
}

/** The fields of a schedule that decide its fire times. */
export type DueSchedule = Pick<Schedule, "cron" | "timezone" | "catchupWindowMs">;

/**
 * The fire times due at a tick at `now`: the current minute if the cron matches it, and
 * the fire times after the watermark `lastTick` that were missed, looking back at most
 * `catchupWindowMs` (or {@link LATE_TICK_BOUND_MS} when there is no catch-up window, so a
 * delayed tick loses no minute). With no watermark only the current minute is due. Pure.
 * @param schedule Cron, time zone and catch-up window.
 * @param lastTick The last minute handled for this schedule, or `null`.
 * @param now The tick's instant.
 * @param options `lateBoundMs` overrides {@link LATE_TICK_BOUND_MS}.
 * @returns Due and skipped fire times.
 * @throws {TypeError} When the cron expression or time zone is invalid (load validates both).
 */
export function dueTicks(
  schedule: DueSchedule,
  lastTick: Date | null,
  now: Date,
  options: { lateBoundMs?: number } = {},
): DueTicks {
  const cron = calculator(schedule);
  const current = floorMinute(now).getTime();
  const lookBack = Math.max(
    schedule.catchupWindowMs ?? 0,
    options.lateBoundMs ?? LATE_TICK_BOUND_MS,
  );
  const missed: FireTime[] = [];
  if (lastTick) {
    let at = cron.nextRun(new Date(Math.max(lastTick.getTime(), current - lookBack)));
    while (at && at.getTime() < current && missed.length < MAX_SCAN) {
      missed.push(fireTime(at, schedule.timezone, true));
      at = cron.nextRun(at);
    }
  }
  const due = missed.slice(0, MAX_CATCHUP);
  const handled = lastTick !== null && lastTick.getTime() >= current;
  if (!handled && cron.nextRun(new Date(current - 1))?.getTime() === current) {
    due.push(fireTime(new Date(current), schedule.timezone, false));
  }
  return { due, skipped: missed.slice(MAX_CATCHUP) };
}

/**
 * A paused croner instance for a schedule. UTC is computed as the fixed offset 0, which
 * gives the same fire times without `Intl`: its first use in a process loads the time
 * zone data (11-15 ms), which a due minute of UTC schedules then never pays.
 */
function calculator(schedule: Pick<Schedule, "cron" | "timezone">): Cron {
  return isUtc(schedule.timezone)
    ? new Cron(schedule.cron, { utcOffset: 0, paused: true, mode: CRON_MODE })
    : new Cron(schedule.cron, { timezone: schedule.timezone, paused: true, mode: CRON_MODE });
}

function fireTime(at: Date, timezone: string, catchup: boolean): FireTime {
  return { at, minute: localMinute(at, timezone), minuteUtc: at.toISOString(), catchup };
}

/**
 * The first fire time of any of `schedules` after the minute of `after`, enabled or not
 * (a disabled schedule's watermark also moves with every tick, so the next-due index
 * must not skip past its fire times either). Pure.
 * @param schedules Cron and time zone of each schedule.
 * @param after The tick's instant.
 * @returns The earliest fire time strictly after `after`'s minute, or `null` when no
 *   schedule ever fires again.
 * @throws {TypeError} When a cron expression or time zone is invalid (load validates both).
 */
export function nextFireTime(
  schedules: readonly Pick<Schedule, "cron" | "timezone">[],
  after: Date,
): Date | null {
  let first: Date | null = null;
  for (const s of schedules) {
    const at = fireAfter(s, after);
    if (at && (!first || at.getTime() < first.getTime())) first = at;
  }
  return first;
}

/**
 * The first fire time of a schedule after the minute of `after`. Pure.
 * @param schedule Cron and time zone.
 * @param after An instant.
 * @returns The fire time strictly after `after`'s minute, or `null` for never.
 * @throws {TypeError} When the cron expression or time zone is invalid (load validates both).
 */
export function fireAfter(schedule: Pick<Schedule, "cron" | "timezone">, after: Date): Date | null {
  const cron = calculator(schedule);
  return cron.nextRun(floorMinute(after));
}
