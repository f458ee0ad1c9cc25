/**
 * Fire times already known from the next-due index (`next_due.ts`), so a tick need not
 * compute them again: after a tick at minute `at`, every schedule's watermark is at
 * `at` or later, and schedule `s` does not fire after `at` before `next[s]`. A later
 * tick at `now` then only plans the schedules that may have something to do; for the
 * others `planTick` would find no due, missed or skipped minute and only move their
 * watermark to the current minute, which the tick does for them without croner.
 * @module
 */
import type { Schedule } from "./schema.ts";
import { fireAfter } from "./due.ts";
import { floorMinute } from "./_time.ts";

/** What a previous tick established about the schedules' fire times. */
export interface KnownFires {
  /** The previous tick's minute: every watermark was moved to it or later. */
  at: Date;
  /** Schedule id to its first fire time after `at` (`null`: never again). */
  next: ReadonlyMap<string, Date | null>;
}

/**
 * The schedules a tick at `now` must plan, given what is known: all but those that
 * provably have nothing to do. A schedule is left out when its next fire time is after
 * the current minute and either its watermark is at the known tick's minute or later
 * (so no fire time after the watermark is due or missed), or it has no watermark and the
 * current minute is after the known tick's (so the current minute, the only one a
 * schedule without a watermark considers, is not a fire time). Pure.
 * @param schedules The schedules of the tick.
 * @param known What a previous tick established.
 * @param state The watermarks read under the store's lock and the tick's instant.
 * @returns The schedules to give `planTick`, in their order.
 */
export function schedulesToPlan<S extends Pick<Schedule, "id">>(
  schedules: readonly S[],
  known: KnownFires,
  state: { watermarks: ReadonlyMap<string, Date>; now: Date },
): S[] {
  const current = floorMinute(state.now).getTime();
  const at = floorMinute(known.at).getTime();
  return schedules.filter((s) => {
    if (!known.next.has(s.id)) return true;
    const next = known.next.get(s.id) ?? null;
    if (next !== null && next.getTime() <= current) return true;
    const mark = state.watermarks.get(s.id);
    if (mark) return mark.getTime() < at;
    return !(current > at);
  });
}

/**
 * What is known after a tick at `now` (each watermark moved to its minute): the known
 * next fire times that are still ahead are kept, the others are computed again.
 * @param schedules The schedules of the tick (cron and time zone).
 * @param now The tick's instant.
 * @param known What was known before the tick, if anything.
 * @returns The fire times known after it.
 * @throws {TypeError} When a cron expression or time zone is invalid (load validates both).
 */
export function knownAfterTick(
  schedules: readonly Pick<Schedule, "id" | "cron" | "timezone">[],
  now: Date,
  known?: KnownFires,
): KnownFires {
  const at = floorMinute(now);
  const next = new Map<string, Date | null>();
  if (known && floorMinute(known.at).getTime() > at.getTime()) known = undefined; // clock went back
  for (const s of schedules) {
    const before = known?.next.get(s.id);
    const ahead = before === null || (before !== undefined && before.getTime() > at.getTime());
    next.set(s.id, known && known.next.has(s.id) && ahead ? before! : fireAfter(s, at));
  }
  return { at, next };
}
