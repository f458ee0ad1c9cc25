import { Cron } from "croner";
import type { ScheduleMinuteEvent } from "../store/mod.ts";
import { CRON_MODE, type Schedule } from "./schema.ts";
import { minuteKey } from "./tick.ts";
import { floorMinute, localMinute, MINUTE_MS } from "./_time.ts";

/**
 * The next fire times of a schedule after `from`. Pure.
 * @param schedule Cron and time zone.
 * @param from Start (exclusive).
 * @param count How many (default 5).
 * @returns The instants, oldest first.
 */
export function nextFireTimes(
  schedule: Pick<Schedule, "cron" | "timezone">,
  from: Date,
  count = 5,
): Date[] {
  const cron = new Cron(schedule.cron, {
    timezone: schedule.timezone,
    paused: true,
    mode: CRON_MODE,
  });
  return cron.nextRuns(count, from);
}

/** The end of a run, as `explainSchedule` reports it. */
export interface ExplainRun {
  status: string;
  reason?: string | null;
}

/** What `explainSchedule` reads. */
export interface ExplainInput {
  /** Decided schedule-minutes of this schedule in the window, oldest first. */
  decided: readonly ScheduleMinuteEvent[];
  /** Run id to its status (`running` while unfinished). */
  runs: ReadonlyMap<string, ExplainRun>;
  /** The schedule's watermark (last tick handled), if any. */
  watermark?: Date;
  now: Date;
  /** Window length (default one hour). */
  windowMs?: number;
}

/**
 * Tells why a schedule did or did not fire in the last hour: one line per fire time of
 * its cron in the window (enqueued and how the run ended, skipped and why, or not
 * handled by any tick), or why there was none. Pure.
 * @param schedule The schedule.
 * @param input Recorded decisions, runs, watermark and `now`.
 * @returns Lines without newlines.
 */
export function explainSchedule(schedule: Schedule, input: ExplainInput): string[] {
  const windowMs = input.windowMs ?? 60 * MINUTE_MS;
  const end = floorMinute(input.now);
  const start = new Date(end.getTime() - windowMs);
  const zone = schedule.timezone;
  const lines = [
    `Schedule "${schedule.id}": cron "${schedule.cron}" in ${zone}, DAG ${schedule.dag}, ` +
    `${schedule.enabled ? "enabled" : "disabled"}, overlap ${schedule.overlap}` +
    (schedule.catchupWindowMs ? `, catch-up ${schedule.catchupWindowMs / MINUTE_MS}m` : ""),
    `Window: ${localMinute(start, zone)} to ${localMinute(end, zone)} (${zone})`,
    input.watermark
      ? `Last tick handled: ${localMinute(input.watermark, zone)}`
      : "Last tick handled: never (no scheduler tick has seen this schedule)",
  ];
  const byKey = new Map(input.decided.map((e) => [minuteKey(e.schedule_id, e.minute_utc), e]));
  const fires: Date[] = [];
  const cron = new Cron(schedule.cron, { timezone: zone, paused: true, mode: CRON_MODE });
  let at = cron.nextRun(start);
  while (at && at.getTime() <= end.getTime() && fires.length < 1000) {
    fires.push(at);
    at = cron.nextRun(at);
  }
  if (fires.length === 0) {
    const next = cron.nextRun(input.now);
    lines.push(
      `The cron matched no minute in the window, so it did not fire` +
        (next ? `; next fire time ${localMinute(next, zone)}` : ""),
    );
    return lines;
  }
  let group: { first: string; last: string; count: number; text: string } | null = null;
  const flush = () => {
    if (!group) return;
    const when = group.count === 1
      ? group.first
      : `${group.first} .. ${group.last.slice(11)} (${group.count} fire times)`;
    lines.push(`  ${when}  ${group.text}`);
    group = null;
  };
  for (const fire of fires) {
    const minute = localMinute(fire, zone);
    const text = describe(byKey.get(minuteKey(schedule.id, fire)), fire, schedule, input);
    if (group && group.text === text && !text.startsWith("fired")) {
      group.last = minute;
      group.count++;
      continue;
    }
    flush();
    group = { first: minute, last: minute, count: 1, text };
  }
  flush();
  return lines;
}

function describe(
  e: ScheduleMinuteEvent | undefined,
  fire: Date,
  schedule: Schedule,
  input: ExplainInput,
): string {
  if (e?.event === "schedule_skipped") {
    return `skipped: ${e.reason}${e.detail ? ` (${e.detail})` : ""}`;
  }
  if (e?.event === "schedule_enqueued") {
    const runId = typeof e.run_id === "string" ? e.run_id : null;
    if (!runId) return "enqueued";
    const run = input.runs.get(runId);
    const how = run ? `${run.status}${run.reason ? ` (${run.reason})` : ""}` : "status unknown";
    return `fired: run ${runId} ${how}${e.catchup ? " (catch-up)" : ""}`;
  }
  if (!schedule.enabled) return "not fired: the schedule is disabled";
  if (fire.getTime() === floorMinute(input.now).getTime()) {
    return "not fired yet: no tick has handled the current minute";
  }
  return "not fired: no scheduler tick handled it (no scheduler running then" +
    (schedule.catchupWindowMs ? ")" : ", and catch-up is off)");
}
