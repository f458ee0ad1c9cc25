import type { StoredEvent } from "../state_events.ts";
import type { TransactionSql } from "./connect.ts";

/** A `schedule_minutes` row to insert. */
export interface MinuteRow {
  scheduleId: string;
  minuteUtc: string;
  kind: "enqueued" | "skipped";
  stateEventId: string;
  body: string;
  /** `schedule_id minute_utc` (ISO, ms), as the conflict check reports it. */
  key: string;
}

/**
 * Inserts state events in order with one statement (arrays unnested, so any number of
 * rows takes five parameters).
 * @param sql The transaction.
 * @param events Stamped events, in append order.
 * @returns Their ids, in the same order.
 */
export async function insertStateEvents(
  sql: TransactionSql,
  events: readonly StoredEvent[],
): Promise<string[]> {
  if (events.length === 0) return [];
  const rows = await sql<{ id: string }[]>`
    insert into state_events (event, ts, schedule_id, run_id, body)
    select event, ts, schedule_id, run_id, body from unnest(
      ${events.map((e) => e.event)}::text[],
      ${events.map((e) => e.timestamp)}::timestamptz[],
      ${events.map((e) => textOrNull(e.schedule_id))}::text[],
      ${events.map((e) => textOrNull(e.run_id))}::text[],
      ${events.map((e) => JSON.stringify(e))}::text[]::jsonb[]
    ) with ordinality as u(event, ts, schedule_id, run_id, body, ord)
    order by ord
    returning id`;
  // Ids come from one sequence in row order; sort so they pair with the input order.
  return rows.map((r) => BigInt(r.id)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map(String);
}

/**
 * The schedule-minute rows of `schedule_enqueued` / `schedule_skipped` events.
 * @param events Stamped events.
 * @param ids Their state event ids, in the same order.
 * @returns One row per event with a `schedule_id` and a valid `minute_utc`.
 */
export function minuteRows(events: readonly StoredEvent[], ids: readonly string[]): MinuteRow[] {
  const out: MinuteRow[] = [];
  events.forEach((e, i) => {
    if (e.event !== "schedule_enqueued" && e.event !== "schedule_skipped") return;
    if (typeof e.schedule_id !== "string" || typeof e.minute_utc !== "string") return;
    const at = new Date(e.minute_utc);
    if (Number.isNaN(at.getTime())) return;
    const minuteUtc = at.toISOString();
    out.push({
      scheduleId: e.schedule_id,
      minuteUtc,
      kind: e.event === "schedule_enqueued" ? "enqueued" : "skipped",
      stateEventId: ids[i],
      body: JSON.stringify(e),
      key: `${e.schedule_id} ${minuteUtc}`,
    });
  });
  return out;
}

/**
 * Inserts schedule-minute rows; a minute someone already decided is left as it is.
 * @param sql The transaction.
 * @param minutes Rows from {@link minuteRows}.
 * @returns The keys (`<schedule_id> <minute ISO>`) of the rows this call inserted.
 */
export async function insertMinuteRows(
  sql: TransactionSql,
  minutes: readonly MinuteRow[],
): Promise<string[]> {
  if (minutes.length === 0) return [];
  const won = await sql<{ key: string }[]>`
    insert into schedule_minutes (schedule_id, minute_utc, kind, state_event_id, body)
    select * from unnest(
      ${minutes.map((m) => m.scheduleId)}::text[],
      ${minutes.map((m) => m.minuteUtc)}::timestamptz[],
      ${minutes.map((m) => m.kind)}::text[],
      ${minutes.map((m) => m.stateEventId)}::bigint[],
      ${minutes.map((m) => m.body)}::text[]::jsonb[])
    on conflict (schedule_id, minute_utc) do nothing
    returning schedule_id || ' ' || to_char(minute_utc at time zone 'UTC',
      'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as key`;
  return won.map((r) => r.key);
}

/**
 * Upserts watermarks, keeping the later instant of the stored and the new one.
 * @param sql The transaction.
 * @param marks Schedule id to the last tick handled.
 */
export async function upsertWatermarks(
  sql: TransactionSql,
  marks: ReadonlyMap<string, Date>,
): Promise<void> {
  if (marks.size === 0) return;
  const entries = [...marks];
  await sql`
    insert into watermarks (schedule_id, last_tick)
    select * from unnest(
      ${entries.map(([id]) => id)}::text[],
      ${entries.map(([, at]) => at.toISOString())}::timestamptz[])
    on conflict (schedule_id) do update
      set last_tick = greatest(watermarks.last_tick, excluded.last_tick), updated = now()`;
}

function textOrNull(value: unknown): string | null {
  return value === undefined || value === null ? null : String(value);
}
