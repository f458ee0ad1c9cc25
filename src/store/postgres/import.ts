import { StateStore } from "../state_store.ts";
import type { StoredEvent } from "../state_events.ts";
import { lockName, type Sql, type TransactionSql } from "./connect.ts";
import { ImportTargetNotEmptyError } from "./import_errors.ts";
import { readLogLines } from "./_import_lines.ts";
import { foldRunRow, type RunRow } from "./_import_runs.ts";
import {
  insertMinuteRows,
  insertStateEvents,
  minuteRows,
  upsertWatermarks,
} from "./_state_rows.ts";

type Line = Record<string, unknown>;

/** Rows per INSERT statement. */
const BATCH = 5000;

/** Options of {@link importLogs}. */
export interface ImportLogsOptions {
  /** The schema the client's `search_path` points at (scopes the state lock). */
  schema: string;
  /** The store as messages name it (password redacted). */
  description: string;
  /** The events file (`ORCH_EVENTS_PATH`), or null to import none. */
  eventsPath: string | null;
  /** The state store file (`STATE_STORE_PATH`), or null to import none. */
  statePath: string | null;
  /** Import even when the store already has events (default false). */
  force?: boolean;
  /** Called after each batch with the rows imported so far (progress). */
  onProgress?: (report: ImportReport) => void;
}

/** What {@link importLogs} did. */
export interface ImportReport {
  /** Rows inserted into `events`. */
  events: number;
  /** Rows inserted into `state_events`. */
  stateEvents: number;
  /** `runs` rows written. */
  runs: number;
  /** Schedule-minutes recorded (`schedule_minutes` rows). */
  minutes: number;
  /** Watermarks written (from the state file's `.watermarks.json`). */
  watermarks: number;
  /** Runs the logs leave unfinished (no `run_finished`). */
  unfinished: number;
  /** Lines skipped because they were torn or not JSON events, per file. */
  skipped: { events: number; state: number };
}

/**
 * Imports a JSONL installation's logs into a migrated PostgreSQL store, in ONE
 * transaction holding the store's state lock (no scheduler ticks meanwhile; a failure
 * leaves the store as it was):
 *
 * - every well-formed line of the events file becomes an `events` row and every line of
 *   the state file a `state_events` row, in file order (ids ascending); torn and junk
 *   lines are skipped and counted, as the JSONL readers skip them;
 * - `schedule_enqueued` / `schedule_skipped` events get their `schedule_minutes` rows,
 *   so a minute decided on JSONL is neither run again nor skipped differently;
 * - `runs` rows are rebuilt from the run events (as `mirrorRuns` writes them);
 * - the watermarks sidecar (`<state>.watermarks.json`) becomes `watermarks` rows.
 *
 * Idempotence: a store that already has events or state events is refused with
 * {@link ImportTargetNotEmptyError} unless `force`, so running the import twice imports
 * nothing twice. With `force` the rows are added (meant for merging another host's
 * logs, whose run ids differ); schedule-minutes already recorded are kept, watermarks
 * keep the later instant and `runs` rows are overwritten.
 *
 * Files are streamed (one chunk and one batch of rows in memory, plus one small row per
 * run).
 * @param sql A client on the migrated schema.
 * @param options Files, schema, `force`, progress callback.
 * @returns Counts of what was imported.
 * @throws {ImportTargetNotEmptyError} When the store has events and `force` is false.
 * @throws {Deno.errors.NotFound} When a named file does not exist.
 */
export async function importLogs(sql: Sql, options: ImportLogsOptions): Promise<ImportReport> {
  const report: ImportReport = {
    events: 0,
    stateEvents: 0,
    runs: 0,
    minutes: 0,
    watermarks: 0,
    unfinished: 0,
    skipped: { events: 0, state: 0 },
  };
  const now = new Date().toISOString();
  const progress = () => options.onProgress?.({ ...report, skipped: { ...report.skipped } });
  await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtextextended(${
      lockName(options.schema, "state")
    }, 0))`;
    if (!options.force) await refuseNonEmpty(tx, options.description);
    if (options.eventsPath) {
      const skipped = { count: 0 };
      for await (const batch of batches(readLogLines(options.eventsPath, skipped))) {
        await insertEvents(tx, batch);
        report.events += batch.length;
        progress();
      }
      report.skipped.events = skipped.count;
    }
    if (options.statePath) {
      const skipped = { count: 0 };
      const runs = new Map<string, RunRow>();
      for await (const batch of batches(readLogLines(options.statePath, skipped))) {
        const events = batch.map((line) => asStored(line, now));
        const ids = await insertStateEvents(tx, events);
        report.minutes += await insertMinutes(tx, events, ids);
        for (const e of events) foldRunRow(runs, e);
        report.stateEvents += batch.length;
        progress();
      }
      report.skipped.state = skipped.count;
      const rows = [...runs.values()];
      for (let i = 0; i < rows.length; i += BATCH) await upsertRuns(tx, rows.slice(i, i + BATCH));
      report.runs = rows.length;
      report.unfinished = rows.filter((r) => r.status === "running" || r.status === "queued")
        .length;
      const marks = await new StateStore(options.statePath).readWatermarks();
      await upsertWatermarks(tx, marks);
      report.watermarks = marks.size;
    }
  });
  return report;
}

async function refuseNonEmpty(tx: TransactionSql, description: string): Promise<void> {
  const [row] = await tx<{ events: number; state: number }[]>`
    select (select count(*) from (select 1 from events limit 1000000) e)::int as events,
      (select count(*) from (select 1 from state_events limit 1000000) s)::int as state`;
  if (row.events > 0 || row.state > 0) {
    throw new ImportTargetNotEmptyError(description, {
      events: row.events,
      stateEvents: row.state,
    });
  }
}

async function* batches(lines: AsyncGenerator<Line>): AsyncGenerator<Line[]> {
  let batch: Line[] = [];
  for await (const line of lines) {
    batch.push(line);
    if (batch.length >= BATCH) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/**
 * A state line as the JSONL reader returns it (`v` defaults to 1). The `ts` column of
 * `state_events` needs an instant: a line without a valid `timestamp` (orch never writes
 * one) gets `now`.
 */
function asStored(line: Line, now: string): StoredEvent {
  if (line.v === undefined) line.v = 1;
  if (validInstant(line.timestamp) === null) line.timestamp = now;
  return line as unknown as StoredEvent;
}

function validInstant(value: unknown): string | null {
  return typeof value === "string" && !Number.isNaN(Date.parse(value)) ? value : null;
}

function textOrNull(value: unknown): string | null {
  return value === undefined || value === null ? null : String(value);
}

async function insertEvents(tx: TransactionSql, lines: Line[]): Promise<void> {
  const now = new Date().toISOString();
  await tx`
    insert into events (run_id, event, ts, body)
    select run_id, event, ts, body from unnest(
      ${lines.map((r) => textOrNull(r.run_id))}::text[],
      ${lines.map((r) => String(r.event))}::text[],
      ${lines.map((r) => validInstant(r.timestamp) ?? now)}::timestamptz[],
      ${lines.map((r) => JSON.stringify(r))}::text[]::jsonb[]
    ) with ordinality as u(run_id, event, ts, body, ord)
    order by ord`;
}

async function insertMinutes(
  tx: TransactionSql,
  events: StoredEvent[],
  ids: string[],
): Promise<number> {
  return (await insertMinuteRows(tx, minuteRows(events, ids))).length;
}

async function upsertRuns(tx: TransactionSql, rows: RunRow[]): Promise<void> {
  const col = <K extends keyof RunRow>(k: K) => rows.map((r) => r[k]);
  await tx`
    insert into runs (run_id, dag_name, dag_file, schedule_id, minute_utc, tenant_id, trigger,
      retry_of, status, started, finished, host, pid, body)
    select * from unnest(
      ${col("run_id")}::text[], ${col("dag_name")}::text[], ${col("dag_file")}::text[],
      ${col("schedule_id")}::text[], ${col("minute_utc")}::timestamptz[],
      ${col("tenant_id")}::text[], ${col("trigger")}::text[], ${col("retry_of")}::text[],
      ${col("status")}::text[], ${col("started")}::timestamptz[],
      ${col("finished")}::timestamptz[], ${col("host")}::text[], ${col("pid")}::int[],
      ${col("body")}::text[]::jsonb[])
    on conflict (run_id) do update set dag_name = excluded.dag_name,
      dag_file = excluded.dag_file, schedule_id = excluded.schedule_id,
      minute_utc = excluded.minute_utc, tenant_id = excluded.tenant_id,
      trigger = excluded.trigger, retry_of = excluded.retry_of, status = excluded.status,
      started = excluded.started, finished = excluded.finished, host = excluded.host,
      pid = excluded.pid, body = excluded.body`;
}
