import { LogWriteError } from "../event_log.ts";
import type { Sql } from "./connect.ts";
import type { EventLogLike } from "../store.ts";

/**
 * Notified (payload: the schema) when task events or state events are committed, so a
 * dashboard wakes at once instead of waiting for its next poll. A kind: the channel is
 * the schema's own (`orch_channel`, see `_channels.ts`).
 */
export const EVENTS_CHANNEL = "orch_events";

/** Rows per INSERT; a larger batch is split (each statement still takes four parameters). */
const MAX_ROWS = 5000;

/**
 * The task-level event log on PostgreSQL, with {@link EventLog}'s surface: `append`
 * never blocks; records appended in the same turn of the event loop are stored with one
 * multi-row INSERT (arrays unnested), in order; `flush` waits for them. Each row keeps
 * the whole record as `body` plus `run_id`, `event` and `ts` (from `timestamp`, else
 * the insert time) for indexed reads.
 *
 * Concurrency: one INSERT runs at a time, so `id` order is append order within a
 * process. After a failed INSERT, later records are dropped and every `flush` rejects,
 * as the JSONL log does. The client is borrowed: the caller ends it.
 */
export class PostgresEventLog implements EventLogLike {
  /** Where the log goes, for messages (no password). */
  readonly path: string;
  #sql: Sql;
  #pending: object[] = [];
  #flushing: Promise<void> | null = null;
  #error: LogWriteError | null = null;
  #onError?: (err: LogWriteError) => void;

  /**
   * @param sql A client on a migrated schema.
   * @param options `path`: how to name the log in errors (default `postgres:events`);
   *   `onError`: called once, when the first insert fails (as `EventLog`'s).
   */
  constructor(
    sql: Sql,
    options: { path?: string; onError?: (err: LogWriteError) => void } = {},
  ) {
    this.#sql = sql;
    this.path = options.path ?? "postgres:events";
    this.#onError = options.onError;
  }

  /**
   * Queues records to be inserted.
   * @param records The objects, in order.
   */
  append(...records: object[]): void {
    if (this.#error) return;
    this.#pending.push(...records);
    if (!this.#flushing) this.#flushing = Promise.resolve().then(() => this.#drain());
  }

  /**
   * Checks now that the table can be written, so a bad store fails before any work.
   * @throws {LogWriteError} When the server or the table is unavailable.
   */
  async open(): Promise<void> {
    try {
      await this.#sql`select 1 from events limit 0`;
    } catch (err) {
      throw new LogWriteError(this.path, err);
    }
  }

  /**
   * Waits until every queued record is stored.
   * @throws {LogWriteError} When an insert failed.
   */
  async flush(): Promise<void> {
    while (this.#flushing) await this.#flushing;
    if (this.#error) throw this.#error;
  }

  /**
   * Flushes. The client stays open (its owner ends it).
   * @throws {LogWriteError} When an insert failed.
   */
  async close(): Promise<void> {
    await this.flush();
  }

  async #drain(): Promise<void> {
    try {
      while (this.#pending.length > 0 && !this.#error) {
        const batch = this.#pending;
        this.#pending = [];
        for (let i = 0; i < batch.length; i += MAX_ROWS) {
          await this.#insert(batch.slice(i, i + MAX_ROWS));
        }
      }
    } catch (err) {
      this.#error = new LogWriteError(this.path, err);
      this.#pending = [];
      this.#onError?.(this.#error);
    } finally {
      this.#flushing = null;
    }
  }

  async #insert(records: object[]): Promise<void> {
    const now = new Date().toISOString();
    const fields = records.map((r) => r as Record<string, unknown>);
    await this.#sql`
      with added as (
      insert into events (run_id, event, ts, body)
      select run_id, event, ts, body from unnest(
        ${
      fields.map((r) => (r.run_id === undefined || r.run_id === null ? null : String(r.run_id)))
    }::text[],
        ${fields.map((r) => String(r.event ?? ""))}::text[],
        ${fields.map((r) => validInstant(r.timestamp) ?? now)}::timestamptz[],
        ${fields.map((r) => JSON.stringify(r))}::text[]::jsonb[]
      ) with ordinality as u(run_id, event, ts, body, ord)
      order by ord
      returning 1)
      select pg_notify(orch_channel(${EVENTS_CHANNEL}, current_schema()), current_schema())
      from (select 1) one`;
  }
}

function validInstant(value: unknown): string | null {
  if (typeof value !== "string") return null;
  return Number.isNaN(Date.parse(value)) ? null : value;
}
