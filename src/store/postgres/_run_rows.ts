import type { StoredEvent } from "../state_events.ts";
import type { TransactionSql } from "./connect.ts";

/** Final run statuses the `runs.status` check allows (others are recorded `failed`). */
export const FINAL = new Set(["success", "failed", "cancelled", "interrupted"]);

/** @returns The value when it is a string, else null. */
export function text(v: unknown): string | null {
  return typeof v === "string" ? v : null;
}

/** @returns The value when it is a string that parses as an instant, else null. */
export function instant(v: unknown): string | null {
  return typeof v === "string" && !Number.isNaN(Date.parse(v)) ? v : null;
}

/** @returns The value when it is an integer, else null. */
export function int(v: unknown): number | null {
  return typeof v === "number" && Number.isInteger(v) ? v : null;
}

/**
 * Mirrors `schedule_enqueued`, `run_started` and `run_finished` into `runs` (one row per
 * run: status, times, host and pid), in the state transaction that records them. The
 * events stay the source of truth; the row is the index that liveness and listings use.
 * @param sql The transaction.
 * @param events Stamped events, in append order.
 */
export async function mirrorRuns(
  sql: TransactionSql,
  events: readonly StoredEvent[],
): Promise<void> {
  for (const e of events) {
    const runId = text(e.run_id);
    if (!runId) continue;
    const dagName = text(e.dag_name) ?? text(e.dag) ?? "";
    if (e.event === "schedule_enqueued") {
      await sql`
        insert into runs (run_id, dag_name, dag_file, schedule_id, minute_utc, tenant_id, trigger,
          host, pid, body)
        values (${runId}, ${dagName}, ${text(e.dag)}, ${text(e.schedule_id)},
          ${instant(e.minute_utc)}, ${text(e.tenant)}, 'schedule', ${text(e.host)}, ${int(e.pid)},
          ${JSON.stringify(e)}::jsonb)
        on conflict (run_id) do update set dag_name = excluded.dag_name,
          dag_file = excluded.dag_file, schedule_id = excluded.schedule_id,
          minute_utc = excluded.minute_utc, tenant_id = excluded.tenant_id,
          trigger = excluded.trigger, body = excluded.body`;
    } else if (e.event === "run_started") {
      await sql`
        insert into runs (run_id, dag_name, dag_file, schedule_id, tenant_id, trigger, retry_of,
          status, started, host, pid, body)
        values (${runId}, ${dagName}, ${text(e.dag)}, ${text(e.schedule_id)},
          ${text(e.tenant_id)}, ${text(e.trigger)}, ${text(e.retry_of)}, 'running',
          ${e.timestamp}, ${text(e.host)}, ${int(e.pid)}, ${JSON.stringify(e)}::jsonb)
        on conflict (run_id) do update set dag_name = excluded.dag_name,
          dag_file = excluded.dag_file, schedule_id = excluded.schedule_id,
          tenant_id = excluded.tenant_id, trigger = excluded.trigger,
          retry_of = excluded.retry_of, status = 'running', started = excluded.started,
          body = excluded.body`;
    } else if (e.event === "run_finished") {
      const status = FINAL.has(String(e.status)) ? String(e.status) : "failed";
      await sql`
        insert into runs (run_id, dag_name, schedule_id, status, finished)
        values (${runId}, ${dagName}, ${text(e.schedule_id)}, ${status}, ${e.timestamp})
        on conflict (run_id) do update set status = excluded.status,
          finished = excluded.finished`;
    }
  }
}
