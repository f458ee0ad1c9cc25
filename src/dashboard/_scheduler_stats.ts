import { Histogram, LAG_BUCKETS } from "./_histogram.ts";
import type { ScheduleLastSkip } from "./types.ts";

type Line = Record<string, unknown>;

/**
 * What the state store says about the scheduler: lag from the scheduled minute to
 * `run_started`, per schedule; the last skip per schedule; the last scheduler write.
 */
export class SchedulerStats {
  /** `schedule_id` → lag histogram. */
  readonly lag = new Map<string, Histogram>();
  /** `schedule_id` → last skipped minute. */
  readonly lastSkip = new Map<string, ScheduleLastSkip>();
  /** Latest timestamp (ms) of a `schedule_enqueued`/`schedule_skipped` line, or null. */
  lastTickMs: number | null = null;
  /** `schedule_id|minute` → scheduled instant (ms), until the run starts. */
  #enqueued = new Map<string, number>();

  /** @param line One line of the state store. */
  apply(line: Line): void {
    const scheduleId = typeof line.schedule_id === "string" ? line.schedule_id : undefined;
    const at = typeof line.timestamp === "string" ? Date.parse(line.timestamp) : NaN;
    if (line.event === "schedule_enqueued" || line.event === "schedule_skipped") {
      if (Number.isFinite(at)) this.lastTickMs = Math.max(this.lastTickMs ?? at, at);
    }
    if (!scheduleId) return;
    const key = `${scheduleId}|${String(line.minute)}`;
    if (line.event === "schedule_enqueued") {
      const due = typeof line.minute_utc === "string" ? Date.parse(line.minute_utc) : NaN;
      if (Number.isFinite(due)) this.#enqueued.set(key, due);
    } else if (line.event === "schedule_skipped") {
      this.lastSkip.set(scheduleId, {
        minute: String(line.minute ?? ""),
        reason: String(line.reason ?? ""),
        detail: typeof line.detail === "string" ? line.detail : undefined,
        at: String(line.timestamp ?? ""),
      });
    } else if (line.event === "run_started") {
      const due = this.#enqueued.get(key);
      if (due === undefined || !Number.isFinite(at)) return;
      this.#enqueued.delete(key);
      let h = this.lag.get(scheduleId);
      if (!h) this.lag.set(scheduleId, h = new Histogram(LAG_BUCKETS));
      h.observe(Math.max(0, (at - due) / 1000));
    }
  }
}
