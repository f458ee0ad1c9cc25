import { isoTimestamp } from "../../../lib/iso_time.ts";
import { EVENT_SCHEMA_VERSION } from "../../events.ts";
import { STATE_SCHEMA_VERSION, type StoredEvent } from "../../state_events.ts";
import type { TransactionSql } from "../connect.ts";
import { insertStateEvents } from "../_state_rows.ts";
import { lockName } from "../connect.ts";

/**
 * Channel kind workers are woken on when attempts are queued (payload: the run id). Each
 * schema has its own channel of each kind (`orch_channel`, see `_channels.ts`).
 */
export const QUEUED_CHANNEL = "orch_task_queued";
/** Channel kind followers are woken on when a run's events grew (payload: the run id). */
export const PROGRESS_CHANNEL = "orch_run_progress";

/** The run fields every task-level event ends with. */
export interface RunTag {
  run_id: string;
  dag_name: string;
  tenant_id: string;
}

/**
 * A task-level event as the local executor writes it: `timestamp`, `event`, the fields,
 * then `run_id`, `dag_name`, `tenant_id` and `v`.
 * @param tag The run's fields.
 * @param atMs When, epoch ms.
 * @param fields `event` and its own fields, in order.
 * @returns The event.
 */
export function runEvent(
  tag: RunTag,
  atMs: number,
  fields: Record<string, unknown>,
): Record<string, unknown> {
  return { timestamp: isoTimestamp(atMs), ...fields, ...tag, v: EVENT_SCHEMA_VERSION };
}

/**
 * Inserts task-level events in order with one statement.
 * @param sql The transaction (or client).
 * @param events The events (objects, or JSON text when the object embeds an output).
 */
export async function insertEvents(
  sql: TransactionSql,
  events: readonly (Record<string, unknown> | EventText)[],
): Promise<void> {
  if (events.length === 0) return;
  const rows = events.map((e) => e instanceof EventText ? e : EventText.of(e));
  // The bodies as one JSON document, not a `text[]`: a large body (a 10,000-task run's
  // `dag_start`, about 600 kB) is then neither escaped by the client nor unescaped by the
  // server (pg_floor: 23-27 -> 15-24 ms for that one).
  await sql`
    insert into events (run_id, event, ts, body)
    select u.run_id, u.event, u.ts, b.body from unnest(
      ${rows.map((r) => r.runId)}::text[],
      ${rows.map((r) => r.event)}::text[],
      ${rows.map((r) => r.timestamp)}::timestamptz[]
    ) with ordinality as u(run_id, event, ts, ord)
    join jsonb_array_elements(${`[${rows.map((r) => r.text).join(",")}]`}::text::jsonb)
      with ordinality as b(body, ord) on b.ord = u.ord
    order by u.ord`;
}

/** An event already serialized (e.g. `task_ok` embedding a worker's output text). */
export class EventText {
  /**
   * @param runId The run.
   * @param event The event name.
   * @param timestamp ISO instant.
   * @param text The JSON object text.
   */
  constructor(
    readonly runId: string,
    readonly event: string,
    readonly timestamp: string,
    readonly text: string,
  ) {}

  /**
   * @param e An event object with `run_id`, `event` and `timestamp`.
   * @returns It as text.
   */
  static of(e: Record<string, unknown>): EventText {
    return new EventText(String(e.run_id), String(e.event), String(e.timestamp), JSON.stringify(e));
  }
}

/**
 * Appends state events (`run_started`, `run_finished`) inside a cluster transaction,
 * holding the state store's advisory lock as `PostgresStateStore` does, so that
 * read-decide-append transactions of schedulers see them in order.
 * @param sql The transaction.
 * @param schema The store's schema (scopes the lock).
 * @param events Events without `timestamp` and `v` (stamped now).
 */
export async function appendStateEvents(
  sql: TransactionSql,
  schema: string,
  events: readonly Record<string, unknown>[],
): Promise<StoredEvent[]> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${lockName(schema, "state")}, 0))`;
  const stamped = events.map((e) => ({
    timestamp: new Date().toISOString(),
    v: STATE_SCHEMA_VERSION,
    ...e,
  })) as unknown as StoredEvent[];
  await insertStateEvents(sql, stamped);
  return stamped;
}

/**
 * Notifies the schema's channel of a kind once per distinct payload.
 * @param sql The transaction.
 * @param channel The channel kind.
 * @param payloads Run ids.
 */
export async function notifyAll(
  sql: TransactionSql,
  channel: typeof QUEUED_CHANNEL | typeof PROGRESS_CHANNEL,
  payloads: Iterable<string>,
): Promise<void> {
  const list = [...new Set(payloads)];
  if (list.length === 0) return;
  await sql`select pg_notify(orch_channel(${channel}, current_schema()), p)
    from unnest(${list}::text[]) as p`;
}
