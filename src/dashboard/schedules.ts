import { callProvider } from "./_provided.ts";
import type { RunIndex } from "./run_index.ts";
import type { SchedulesProvider } from "./types.ts";

/** One schedule in `GET /api/schedules`. */
export interface ScheduleView {
  id: string;
  cron: string;
  timezone: string;
  enabled: boolean;
  dag: string;
  tenant?: string;
  next_fire_times: string[];
  last_run: { run_id: string; status: string; started: string } | null;
  last_skip: { minute: string; reason: string; detail?: string; at: string } | null;
}

/**
 * Lists schedules from the provider, filling the last run and the last skipped minute
 * from the state store when the provider does not say.
 * @param provider The scheduler's provider, or undefined.
 * @param index The run index.
 * @returns The schedules in the provider's order.
 * @throws {HttpError} 502 when the provider fails.
 */
export async function listSchedules(
  provider: SchedulesProvider | undefined,
  index: RunIndex,
): Promise<ScheduleView[]> {
  const schedules = await callProvider(provider, "schedules");
  return schedules.map((s) => {
    const latest = index.list({ schedule: s.id, limit: 1 }, 0).runs[0];
    const lastRun = s.lastRun
      ? { run_id: s.lastRun.runId, status: s.lastRun.status, started: s.lastRun.started }
      : latest
      ? { run_id: latest.run_id, status: latest.status, started: latest.started }
      : null;
    const skip = s.lastSkip ?? index.scheduler.lastSkip.get(s.id);
    return {
      id: s.id,
      cron: s.cron,
      timezone: s.timezone,
      enabled: s.enabled,
      dag: s.dag,
      tenant: s.tenant,
      next_fire_times: s.nextFireTimes,
      last_run: lastRun,
      last_skip: skip ? { ...skip } : null,
    };
  });
}
