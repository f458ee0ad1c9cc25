import { type Clock, systemClock } from "../../lib/mod.ts";
import { groupNewest, type ScheduleMinuteEvent } from "../_scan.ts";
import { STATE_SCHEMA_VERSION, type StateEventBase, type StoredEvent } from "../state_events.ts";
import type { Stamped, StateTransaction } from "../state_store.ts";
import { lockName, type Sql, type TransactionSql } from "./connect.ts";
import { ScheduleMinuteConflictError } from "./errors.ts";
import type { StateStoreLike } from "../store.ts";
import { checkEpoch, type Fence } from "./_fence.ts";
import {
  insertMinuteRows,
  insertStateEvents,
  minuteRows,
  upsertWatermarks,
} from "./_state_rows.ts";
import { mirrorRuns } from "./_run_rows.ts";
import { EVENTS_CHANNEL } from "./event_log.ts";

/** Options of {@link PostgresStateStore}. */
export interface PostgresStateStoreOptions {
  /** The schema the client's `search_path` points at (default `public`); scopes the lock. */
  schema?: string;
  /** Source of `timestamp`s (default the system clock). */
  clock?: Clock;
  /**
   * Serialise transactions with a transaction-scoped advisory lock (default true), as the
   * JSONL store's `flock` does: reads inside a transaction then see every earlier
   * transaction, so read-decide-append never decides on stale data. With false only the
   * UNIQUE constraint guards schedule-minutes (and losers get
   * {@link ScheduleMinuteConflictError}).
   */
  serialize?: boolean;
  /** When set, every write first checks this leader epoch (a stale leader is refused). */
  fence?: Fence;
}

/** Rows read per page by {@link PostgresStateStore.scanBackward}. */
const PAGE = 500;
/** Fields with their own indexed column; other keys are looked up in the jsonb body. */
const COLUMNS = new Set(["schedule_id", "run_id"]);

/**
 * The state store on PostgreSQL, with the JSONL {@link StateStore}'s contract: events
 * keep their `timestamp` and `v`, come back in append order (by `id`), and a transaction
 * is read-decide-append with nothing written when the callback throws.
 *
 * Exactly once: every `schedule_enqueued` / `schedule_skipped` event also gets a row in
 * `schedule_minutes`, inserted with `ON CONFLICT (schedule_id, minute_utc) DO NOTHING
 * RETURNING`; a key already there rolls the whole transaction back with
 * {@link ScheduleMinuteConflictError}, so a process never runs a minute it did not win.
 * Watermarks are upserted keeping the later instant.
 *
 * Concurrency: transactions hold `pg_advisory_xact_lock` on the schema's state key
 * (unless `serialize: false`), across processes and hosts. The client is borrowed: the
 * caller ends it.
 */
export class PostgresStateStore implements StateStoreLike {
  #sql: Sql;
  #clock: Clock;
  #lock: string;
  #serialize: boolean;
  #fence?: Fence;

  /**
   * @param sql A client from `connectPostgres` on a migrated schema.
   * @param options Schema, clock, serialisation and fencing.
   */
  constructor(sql: Sql, options: PostgresStateStoreOptions = {}) {
    this.#sql = sql;
    this.#clock = options.clock ?? systemClock;
    this.#lock = lockName(options.schema ?? "public", "state");
    this.#serialize = options.serialize ?? true;
    this.#fence = options.fence;
  }

  /**
   * Appends one event with `timestamp` (ISO UTC, ms) and `v`.
   * @param event The event; `timestamp` and `v` it carries are replaced.
   * @returns The event as written.
   * @throws {ScheduleMinuteConflictError} When it is a schedule-minute already recorded.
   * @throws {FencedError} When fenced and the epoch is stale.
   */
  async recordEvent<E extends { event: string }>(event: E): Promise<Stamped<E>> {
    return await this.transaction((tx) => Promise.resolve(tx.append(event)[0]));
  }

  /**
   * @param limit How many events (default 20).
   * @returns The newest `limit` events in append order (oldest first).
   */
  lastRuns(limit = 20): Promise<StoredEvent[]> {
    return lastRunsOn(this.#sql, limit);
  }

  /**
   * Groups the newest `limit` events that have `key` (not null) by its value.
   * @param key The field, e.g. `schedule_id`.
   * @param limit How many events having `key` to consider (default 100).
   * @returns Each value of `key` (as a string) to its events in append order.
   */
  async indexBy(key: string, limit = 100): Promise<Record<string, StoredEvent[]>> {
    if (limit <= 0) return {};
    const sql = this.#sql;
    const where = COLUMNS.has(key)
      ? sql`${sql(key)} is not null`
      : sql`body ? ${key} and body -> ${key} <> 'null'::jsonb`;
    const rows = await sql<{ body: StoredEvent }[]>`
      select body from state_events where ${where} order by id desc limit ${limit}`;
    return await groupNewest(iterate(rows.map((r) => r.body)), key, limit);
  }

  /**
   * Iterates over the events, newest first, a page at a time (stop early to read less).
   * @returns The events, newest first.
   */
  scanBackward(): AsyncGenerator<StoredEvent> {
    return scanOn(this.#sql);
  }

  /** @returns The persisted watermarks (schedule id to the last tick handled). */
  readWatermarks(): Promise<Map<string, Date>> {
    return watermarksOn(this.#sql);
  }

  /**
   * Runs `fn` in a database transaction holding the store's advisory lock: read,
   * decide, then append. The appends are inserted after `fn` resolves, then the
   * schedule-minute keys, then the watermarks; if `fn` or any insert throws, nothing is
   * written.
   * @param fn The read-decide-append step.
   * @returns What `fn` returns.
   * @throws {ScheduleMinuteConflictError} When a schedule-minute was already recorded.
   * @throws {FencedError} When fenced and the epoch is stale.
   */
  async transaction<T>(fn: (tx: StateTransaction) => Promise<T>): Promise<T> {
    const result = await this.#sql.begin(async (sql) => {
      if (this.#serialize) {
        await sql`select pg_advisory_xact_lock(hashtextextended(${this.#lock}, 0))`;
      }
      const stamped: StoredEvent[] = [];
      let marks: ReadonlyMap<string, Date> | null = null;
      const tx: StateTransaction & { scanBackward(): AsyncGenerator<StoredEvent> } = {
        append: <T extends readonly { event: string }[]>(...events: T) => {
          const out = events.map((e) => this.#stamp(e));
          stamped.push(...(out as unknown as StoredEvent[]));
          return out as { [K in keyof T]: Stamped<T[K]> };
        },
        lastRuns: (limit = 20) => lastRunsOn(sql, limit),
        scanBackward: () => scanOn(sql),
        scheduleMinutes: (since) => scheduleMinutesOn(sql, since),
        watermarks: () => watermarksOn(sql),
        setWatermarks: (w) => {
          marks = w;
        },
      };
      const value = await fn(tx);
      await this.#commit(sql, stamped, marks);
      return { value };
    });
    return result.value as T;
  }

  async #commit(
    sql: TransactionSql,
    stamped: StoredEvent[],
    marks: ReadonlyMap<string, Date> | null,
  ): Promise<void> {
    if (stamped.length === 0 && (!marks || marks.size === 0)) return;
    if (this.#fence) await checkEpoch(sql, this.#fence);
    const ids = await insertStateEvents(sql, stamped);
    const minutes = minuteRows(stamped, ids);
    if (minutes.length > 0) {
      const won = await insertMinuteRows(sql, minutes);
      if (won.length < minutes.length) {
        const got = new Set(won);
        throw new ScheduleMinuteConflictError(
          minutes.map((m) => m.key).filter((k) => !got.delete(k)),
        );
      }
    }
    await mirrorRuns(sql, stamped);
    if (marks) await upsertWatermarks(sql, marks);
    if (stamped.length > 0) {
      await sql`select pg_notify(orch_channel(${EVENTS_CHANNEL}, current_schema()), current_schema())`;
    }
  }

  #stamp<E extends { event: string }>(event: E): Stamped<E> {
    const { v: _v, timestamp: _t, ...rest } = event as E & Partial<StateEventBase>;
    const stamp = { timestamp: this.#clock.now().toISOString(), v: STATE_SCHEMA_VERSION };
    return { ...stamp, ...rest } as unknown as Stamped<E>;
  }
}

async function lastRunsOn(sql: Sql | TransactionSql, limit: number): Promise<StoredEvent[]> {
  if (limit <= 0) return [];
  const rows = await sql<{ body: StoredEvent }[]>`
    select body from state_events order by id desc limit ${limit}`;
  return rows.map((r) => r.body).reverse();
}

async function* scanOn(sql: Sql | TransactionSql): AsyncGenerator<StoredEvent> {
  let before: string | null = null;
  while (true) {
    const rows: { id: string; body: StoredEvent }[] = before === null
      ? await sql`select id, body from state_events order by id desc limit ${PAGE}`
      : await sql`select id, body from state_events where id < ${before}
          order by id desc limit ${PAGE}`;
    for (const r of rows) yield r.body;
    if (rows.length < PAGE) return;
    before = rows[rows.length - 1].id;
  }
}

async function scheduleMinutesOn(
  sql: Sql | TransactionSql,
  since: Date,
): Promise<ScheduleMinuteEvent[]> {
  const rows = await sql<{ body: ScheduleMinuteEvent }[]>`
    select body from schedule_minutes where minute_utc >= ${since} order by state_event_id`;
  return rows.map((r) => r.body);
}

async function watermarksOn(sql: Sql | TransactionSql): Promise<Map<string, Date>> {
  const rows = await sql<{ schedule_id: string; last_tick: Date }[]>`
    select schedule_id, last_tick from watermarks`;
  return new Map(rows.map((r) => [r.schedule_id, r.last_tick]));
}

async function* iterate<T>(items: readonly T[]): AsyncGenerator<T> {
  yield* items;
}
