import type {
  MetricValues,
  RunQuery,
  RunSink,
  RunSource,
  SourceStats,
} from "../../dashboard/mod.ts";
import type { PostgresStoreConfig } from "./config.ts";
import { connectPostgres, sessionName, type Sql } from "./connect.ts";
import { listenForWrites } from "./_listen_writes.ts";
import { storeMetrics } from "./_store_metrics.ts";
import { isEvent, statsOf, TableCursor } from "./_table_cursor.ts";
import {
  countBefore,
  firstIds,
  type RunEdge,
  runFacets,
  runRows,
  runsBefore,
} from "./_run_window.ts";

type Line = Record<string, unknown>;
type Row = { id: string; body: Line };

/** Rows read per query while catching up. */
const BATCH = 5000;
/** Runs handed over at start-up (newest first); older ones when a page asks. */
const FIRST_RUNS = 1000;

/** Options of {@link PostgresRunSource}. */
export interface PostgresRunSourceOptions {
  /** For messages (default `postgres`). */
  description?: string;
  /** End the client in `close()` (default false). */
  owned?: boolean;
  /** Now in ms, to age skipped ids (default `Date.now`). */
  now?: () => number;
  /** Runs handed over at start-up (default 1000); older ones are loaded on demand. */
  firstRuns?: number;
  /** Poll interval while a live client is connected (default 500 ms), the fallback. */
  pollIntervalMs?: number;
}

/**
 * The dashboard's {@link RunSource} over the PostgreSQL store: task events from
 * `events`, run and scheduler events from `state_events`, whoever wrote them (every host
 * of the cluster).
 *
 * **Paged.** The first poll hands over the newest `firstRuns` runs (by `runs.started`):
 * both tables are followed from the lowest id of those runs, not from the start. A run
 * met while following whose earlier rows lie below that point (an older run still
 * writing, or one asked for by {@link loadRun}) first gets those rows from the
 * `(run_id, id)` index; {@link loadOlder} hands over the next older runs the same way
 * when a page asks, and {@link countUnloaded} counts the rest in SQL so totals stay
 * right. With fewer runs than `firstRuns` everything is read, as before.
 *
 * **Incremental.** Each poll reads the rows with an id above the last one seen, plus ids
 * skipped by transactions that had not committed yet; when nothing was written it costs
 * one query (`max(id)` of both tables). A table whose ids went backwards (truncated)
 * resets the dashboard.
 *
 * **Woken.** {@link watch} listens to the schema's `orch_events` (the event log's and
 * state store's commits), `orch_run_progress` and `orch_task_queued` (cluster runs)
 * channels; the poll stays as the fallback, and a (re)started listen wakes once, because
 * notifications sent while the listener was away are lost.
 *
 * Concurrency: polls and loads run one at a time (queued); `runEvents` and `lastTickMs`
 * may run alongside them (the client is a pool of two, plus the listen connection).
 */
export class PostgresRunSource implements RunSource {
  readonly description: string;
  readonly pollIntervalMs: number;
  #sql: Sql;
  #owned: boolean;
  #events = new TableCursor("events");
  #state = new TableCursor("state_events");
  #now: () => number;
  #firstRuns: number;
  #started = false;
  /** Rows at or below these ids are not followed (read per run instead). */
  #floor = { events: 0, state: 0 };
  /** Runs whose rows below the floor were handed over (or that have none). */
  #known = new Set<string>();
  /** Runs older than `#edge` handed over anyway (they are not counted in SQL). */
  #olderLoaded = new Set<string>();
  /** The oldest run of the loaded window; null when every run is loaded. */
  #edge: RunEdge | null = null;
  #queue: Promise<unknown> = Promise.resolve();

  /**
   * @param sql A client on a migrated schema.
   * @param options Description, ownership, clock, first page, poll interval.
   */
  constructor(sql: Sql, options: PostgresRunSourceOptions = {}) {
    this.#sql = sql;
    this.#owned = options.owned ?? false;
    this.description = options.description ?? "postgres";
    this.#now = options.now ?? Date.now;
    this.#firstRuns = options.firstRuns ?? FIRST_RUNS;
    this.pollIntervalMs = options.pollIntervalMs ?? 500;
  }

  /**
   * Opens its own client (two connections) on the store.
   * @param config The store config.
   * @returns The source; `close()` ends the client.
   */
  static open(config: PostgresStoreConfig): PostgresRunSource {
    const sql = connectPostgres(config, {
      max: 2,
      applicationName: sessionName("orch dashboard", config.schema),
    });
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
   * Hands new rows of both tables to the sink, in id order per table (the first call:
   * the newest runs).
   * @param sink Receives events and resets.
   * @throws {Error} The driver's error when the server cannot be queried.
   */
  poll(sink: RunSink): Promise<void> {
    return this.#serial(async () => {
      const [top] = await this.#sql<{ e: string | null; s: string | null }[]>`
        select (select max(id) from events) as e, (select max(id) from state_events) as s`;
      const eventsTop = Number(top.e ?? 0), stateTop = Number(top.s ?? 0);
      if (eventsTop < this.#events.last || stateTop < this.#state.last) {
        this.#events.stats.resets++;
        this.#started = false;
        sink.reset();
      }
      if (!this.#started) await this.#start();
      await this.#follow(this.#events, eventsTop, sink);
      await this.#follow(this.#state, stateTop, sink);
    });
  }

  /**
   * Hands over the next `runs` older runs (by `runs.started`) not handed over yet.
   * @param sink Receives their events.
   * @param runs How many.
   * @returns False when no older run is left.
   */
  loadOlder(sink: RunSink, runs: number): Promise<boolean> {
    return this.#serial(async () => {
      if (!this.#edge) return false;
      const older = await runsBefore(this.#sql, runs, this.#edge);
      this.#edge = older.length < runs ? null : older[older.length - 1];
      const ids = older.map((r) => r.runId).filter((id) => !this.#known.has(id));
      await this.#adopt(ids, sink, false);
      return this.#edge !== null;
    });
  }

  /**
   * Hands over one run's rows below the followed range, when not handed over yet.
   * @param sink Receives its events.
   * @param runId The run.
   * @returns True when the run has rows there.
   */
  loadRun(sink: RunSink, runId: string): Promise<boolean> {
    return this.#serial(async () => {
      if (this.#known.has(runId)) return false;
      return (await this.#adopt([runId], sink)) > 0;
    });
  }

  /**
   * @param query Filters.
   * @returns Runs older than the loaded ones that match (0 once all are loaded).
   */
  async countUnloaded(query: RunQuery): Promise<number> {
    if (!this.#edge) return 0;
    return await countBefore(this.#sql, this.#edge, query, [...this.#olderLoaded]);
  }

  /** @returns The filter menus' values over every run (the `runs` table). */
  async facets(): Promise<{ dags: string[]; schedules: string[]; tenants: string[] }> {
    return await runFacets(this.#sql);
  }

  /**
   * Counts what `/metrics` reports in SQL over the whole store, not only the runs handed
   * over (see `_store_metrics.ts`).
   * @returns The values.
   */
  metrics(): Promise<MetricValues> {
    return storeMetrics(this.#sql);
  }

  /**
   * Listens for writes (see `listenForWrites`).
   * @param onWake Called on each write notification of this store and on each (re)listen.
   * @returns Stops listening.
   */
  watch(onWake: () => void): Promise<() => Promise<void>> {
    return listenForWrites(this.#sql, onWake);
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
    await this.#queue.catch(() => {});
    if (this.#owned) await this.#sql.end();
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * Chooses where following starts: below the newest `firstRuns` runs, or the very start
   * when there are not more runs than that.
   */
  async #start(): Promise<void> {
    this.#known.clear();
    this.#olderLoaded.clear();
    const newest = await runsBefore(this.#sql, this.#firstRuns, null);
    this.#edge = newest.length < this.#firstRuns ? null : newest[newest.length - 1];
    let floor = { events: 0, state: 0 };
    if (this.#edge) {
      const first = await firstIds(this.#sql, newest.map((r) => r.runId));
      const [top] = await this.#sql<{ e: string | null; s: string | null }[]>`
        select (select max(id) from events) as e, (select max(id) from state_events) as s`;
      floor = {
        events: (first.events ?? Number(top.e ?? 0) + 1) - 1,
        state: (first.state ?? Number(top.s ?? 0) + 1) - 1,
      };
    }
    this.#floor = floor;
    this.#events.rewind(floor.events);
    this.#state.rewind(floor.state);
    this.#started = true;
  }

  async #follow(cursor: TableCursor, top: number, sink: RunSink): Promise<void> {
    const sql = this.#sql;
    const table = sql(cursor.table);
    const now = this.#now();
    const watched = cursor.watched(now);
    if (watched.length > 0) {
      const late = await sql<Row[]>`
        select id, body from ${table} where id = any(${watched}::bigint[]) order by id`;
      await this.#hand(cursor, late, now, sink);
    }
    while (cursor.last < top) {
      const rows = await sql<Row[]>`
        select id, body from ${table} where id > ${cursor.last} order by id limit ${BATCH}`;
      await this.#hand(cursor, rows, now, sink);
      if (rows.length < BATCH) break;
    }
  }

  /** Hands over followed rows, after the earlier rows of runs met for the first time. */
  async #hand(cursor: TableCursor, rows: Row[], now: number, sink: RunSink): Promise<void> {
    const fresh = new Set<string>();
    for (const r of rows) {
      const runId = r.body?.run_id;
      if (typeof runId === "string" && !this.#known.has(runId)) fresh.add(runId);
    }
    if (fresh.size > 0) await this.#adopt([...fresh], sink);
    for (const r of rows) this.#take(cursor, r, now, sink);
  }

  /**
   * Hands over the rows of `runIds` below the followed range (both tables), and marks
   * them known.
   * @param older Whether runs with rows there may be older than the edge (not counted by
   *   {@link countUnloaded} then): true unless they come from {@link loadOlder}.
   * @returns How many rows there were.
   */
  async #adopt(runIds: string[], sink: RunSink, older = true): Promise<number> {
    if (runIds.length === 0) return 0;
    const [events, state] = await Promise.all([
      runRows(this.#sql, "events", runIds, this.#floor.events),
      runRows(this.#sql, "state_events", runIds, this.#floor.state),
    ]);
    for (const id of runIds) this.#known.add(id);
    for (const r of older ? [...events, ...state] : []) {
      if (typeof r.body?.run_id === "string") this.#olderLoaded.add(r.body.run_id);
    }
    for (const r of events) this.#emit(this.#events, r, sink);
    for (const r of state) this.#emit(this.#state, r, sink);
    return events.length + state.length;
  }

  #take(cursor: TableCursor, row: Row, now: number, sink: RunSink): void {
    if (!cursor.see(Number(row.id), now)) return;
    this.#emit(cursor, row, sink);
  }

  #emit(cursor: TableCursor, row: Row, sink: RunSink): void {
    if (!isEvent(row.body)) {
      cursor.stats.corrupt++;
      return;
    }
    cursor.stats.lines++;
    if (cursor.table === "events") sink.runEvent(row.body, Number(row.id), 0);
    else sink.stateEvent(row.body);
  }
}
