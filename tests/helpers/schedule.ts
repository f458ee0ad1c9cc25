/** A schedule for scheduler tests, without loading files. */
import type { Schedule } from "../../src/schedule/mod.ts";

/**
 * @param id The schedule id (the DAG is `dags/<id>.yaml`).
 * @param overrides Fields to change (default: every minute, UTC, overlap skip).
 * @returns The schedule.
 */
export function testSchedule(id: string, overrides: Partial<Schedule> = {}): Schedule {
  return {
    id,
    cron: "* * * * *",
    dag: `dags/${id}.yaml`,
    dagPath: `/dags/${id}.yaml`,
    tenant: "t",
    enabled: true,
    timezone: "UTC",
    params: { who: id },
    overlap: "skip",
    catchupWindowMs: null,
    source: { file: "s.yaml", line: 1, column: 1 },
    ...overrides,
  };
}
