import type { FollowerStats, RunSink, RunSource, SourceStats } from "../../dashboard/mod.ts";
import type { PostgresStoreConfig } from "./config.ts";
import { connectPostgres, type Sql } from "./connect.ts";

type Line = Record<string, unknown>;
type Table = "events" | "state_events";

/** Rows read per query while catching up. */
const BATCH = 5000;
/** How long an id skipped by the sequence is watched for (its transaction may commit late). */
const GAP_TTL_MS = 60_000;
/** Most skipped ids watched at once (more are not watched). */
const MAX_GAPS = 10_000;
/** Of one jump in ids, only this many ids below the new one are watched. */
const MAX_JUMP = 1000;

/**
 * Follows one table by `id`. Ids come from a sequence when rows are inserted, but
 * transactions commit in any order, so a row with a smaller id can become visible after
 * a larger one was read. Every id skipped over is therefore watched for
 * {@link GAP_TTL_MS} (a rolled-back insert leaves a permanent hole; it expires).
 */
class TableCursor {
  readonly table: Table;
  last = 0;
  #gaps = new Map<number, number>();
  stats = { lines: 0, corrupt: 0, resets: 0 };

  constructor(table: Table) {
    this.table = table;
  }

  get gapCount(): number {
    return this.#gaps.size;
  }

  rewind(): void {
    this.last = 0;
    this.#gaps.clear();
    this.stats.lines = 0;
    this.stats.corrupt = 0;
  }

  /** Ids to look for again, after dropping the expired ones. */
  watched(nowMs: number): number[] {
    for (const [id, since] of this.#gaps) if (nowMs - since > GAP_TTL_MS) this.#gaps.delete(id);
    return [...this.#gaps.keys()];
  }

  /** Notes a row read by id; returns false when it was already seen. */
  see(id: number, nowMs: number): boolean {
    if (id <= this.last) return this.#gaps.delete(id);
    const from = Math.max(this.last + 1, id - MAX_JUMP);
    for (let missing = from; missing < id && this.#gaps.size < MAX_GAPS; missing++) {
      this.#gaps.set(missing, nowMs);
    }
    this.last = id;
    return true;
  }
}

/**
 * The dashboard's {@link RunSource} over the PostgreSQL store: task events from
 * `events`, run and scheduler events from `state_events`, whoever wrote them (every host
 * of the cluster). Each poll reads the rows with an id above the last one seen, plus ids
 * skipped by transactions that had not committed yet; when nothing was written it costs
 * one query (`max(id)` of both tables, from the primary keys). A table whose ids went
 * backwards (truncated) resets the dashboard. A run's details are read by the
 * `(run_id, id)` index. There is no LISTEN/NOTIFY: writers do not notify, so the live
 * view polls (every 500 ms while a client is connected).
 *
 * Concurrency: the dashboard serialises `poll`; `runEvents` and `lastTickMs` may run
 * alongside it (the client is a pool of two).
 */
export class PostgresRunSource implements RunSource {
  readonly description: string;
  readonly pollIntervalMs = 500;
  #sql: Sql;
  #owned: boolean;
  #events = new TableCursor("events");
  #state = new TableCursor("state_events");
  #now: () => number;

  /**
   * @param sql A client on a migrated schema.
   * @param options `description` for messages; `owned`: end the client in `close()`;
   *   `now` (ms) to age skipped ids (default `Date.now`).
   */
  constructor(
    sql: Sql,
    options: { description?: string; owned?: boolean; now?: () => number } = {},
  ) {
    this.#sql = sql;
    this.#owned = options.owned ?? false;
    this.description = options.description ?? "postgres";
    this.#now = options.now ?? Date.now;
  }

  /**
   * Opens its own client (two connections) on the store.
   * @param config The store config.
   * @returns The source; `close()` ends the client.
   */
  static open(config: PostgresStoreConfig): PostgresRunSource {
    const sql = connectPostgres(config, { max: 2, applicationName: "orch dashboard" });
    return new PostgresRunSource(sql, {
      owned: true,
      description: `${config.redacted} (schema ${config.schema})`,
    });
  }

  /** @returns Counters per table (`offset` is the last id read). */
  stats(): SourceStats {
    return { events: statsOf(this.#events), state: statsOf(this.#state) };
  }

  /**
   * Hands new rows of both tables to the sink, in id order per table.
   * @param sink Receives events and resets.
   * @throws {Error} The driver's error when the server cannot be queried.
   */
  async poll(sink: RunSink): Promise<void> {
    const [top] = await this.#sql<{ e: string | null; s: string | null }[]>`
      select (select max(id) from events) as e, (select max(id) from state_events) as s`;
    const eventsTop = Number(top.e ?? 0), stateTop = Number(top.s ?? 0);
    if (eventsTop < this.#events.last || stateTop < this.#state.last) {
      this.#events.rewind();
      this.#state.rewind();
      this.#events.stats.resets++;
      sink.reset();
    }
    await this.#follow(this.#events, eventsTop, (line, id) => sink.runEvent(line, id, 0));
    await this.#follow(this.#state, stateTop, (line) => sink.stateEvent(line));
  }

  /**
   * @param runId The run.
   * @param _ranges Unused (rows are found by the `(run_id, id)` index).
   * @returns The run's task events in id order.
   */
  async runEvents(runId: string, _ranges: readonly number[]): Promise<Line[]> {
    const rows = await this.#sql<{ body: Line }[]>`
      select body from events where run_id = ${runId} order by id`;
    return rows.map((r) => r.body).filter(isEvent);
  }

  /** @returns The last watermark update: every scheduler tick writes the watermarks. */
  async lastTickMs(): Promise<number | null> {
    const [row] = await this.#sql<{ t: Date | null }[]>`select max(updated) as t from watermarks`;
    return row.t ? row.t.getTime() : null;
  }

  /** Ends the client when the source opened it. */
  async close(): Promise<void> {
    if (this.#owned) await this.#sql.end();
  }

  async #follow(
    cursor: TableCursor,
    top: number,
    emit: (line: Line, id: number) => void,
  ): Promise<void> {
    const sql = this.#sql;
    const table = sql(cursor.table);
    const now = this.#now();
    const watched = cursor.watched(now);
    if (watched.length > 0) {
      const late = await sql<{ id: string; body: Line }[]>`
        select id, body from ${table} where id = any(${watched}::bigint[]) order by id`;
      for (const r of late) this.#take(cursor, r, now, emit);
    }
    while (cursor.last < top) {
      const rows = await sql<{ id: string; body: Line }[]>`
        select id, body from ${table} where id > ${cursor.last} order by id limit ${BATCH}`;
      for (const r of rows) this.#take(cursor, r, now, emit);
      if (rows.length < BATCH) break;
    }
  }

  #take(
    cursor: TableCursor,
    row: { id: string; body: Line },
    now: number,
    emit: (line: Line, id: number) => void,
  ): void {
    const id = Number(row.id);
    if (!cursor.see(id, now)) return;
    if (!isEvent(row.body)) {
      cursor.stats.corrupt++;
      return;
    }
    cursor.stats.lines++;
    emit(row.body, id);
  }
}

function isEvent(body: unknown): body is Line {
  return !!body && typeof body === "object" && !Array.isArray(body) &&
    typeof (body as Line).event === "string";
}

function statsOf(cursor: TableCursor): FollowerStats {
  return { ...cursor.stats, offset: cursor.last, pendingBytes: cursor.gapCount };
}
