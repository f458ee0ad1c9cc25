import { StateStore } from "../state_store.ts";
import type { StoredEvent } from "../state_events.ts";
import { lockName, type Sql, type TransactionSql } from "./connect.ts";
import { OrchestratorError } from "../../lib/errors.ts";
import { ImportFailedError, ImportTargetNotEmptyError } from "./import_errors.ts";
import { readLogLines } from "./_import_lines.ts";
import { foldRunRow, type RunRow } from "./_import_runs.ts";
import {
  createStage,
  insertMissingEvents,
  insertMissingState,
  stageEvents,
  stageState,
} from "./_import_stage.ts";
import { insertMinuteRows, minuteRows, upsertWatermarks } from "./_state_rows.ts";

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
  /** Import even when the store already has events (default false); lines it holds are skipped. */
  force?: boolean;
  /** Called after each batch read with the well-formed lines read so far (progress). */
  onProgress?: (linesRead: number) => void;
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
  /** Lines not inserted because the store already held them, per file. */
  present: { events: number; state: number };
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
 * Idempotent: a line the store already holds is not inserted again (a line's identity is
 * its whole JSON object, counted with multiplicity; see `_import_stage.ts`), so the same
 * logs imported twice add nothing, and a log that grew adds only its new lines. Only the
 * runs that got new state events are rebuilt (a run that recovery later recorded
 * `interrupted` on PostgreSQL keeps that). Schedule-minutes already recorded are kept and
 * watermarks keep the later instant. A store that already has events or state events is
 * still refused with {@link ImportTargetNotEmptyError} unless `force` (the logs were
 * probably imported already, or the store is in use).
 *
 * Files are streamed into temporary tables of the transaction (one chunk and one batch of
 * rows in memory, plus one small row per rebuilt run).
 * @param sql A client on the migrated schema.
 * @param options Files, schema, `force`, progress callback.
 * @returns Counts of what was imported.
 * @throws {ImportTargetNotEmptyError} When the store has events and `force` is false.
 * @throws {ImportFailedError} When the database refuses a statement (nothing imported).
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
    present: { events: 0, state: 0 },
  };
  try {
    await runImport(sql, options, report);
  } catch (err) {
    if (err instanceof OrchestratorError || err instanceof Deno.errors.NotFound) throw err;
    throw new ImportFailedError(options.description, err);
  }
  return report;
}

/** The transaction of {@link importLogs}; fills `report`. */
async function runImport(
  sql: Sql,
  options: ImportLogsOptions,
  report: ImportReport,
): Promise<void> {
  let read = 0;
  const progress = (lines: number) => options.onProgress?.(read += lines);
  await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtextextended(${
      lockName(options.schema, "state")
    }, 0))`;
    if (!options.force) await refuseNonEmpty(tx, options.description);
    await createStage(tx);
    if (options.eventsPath) {
      const stamp = stamper();
      report.skipped.events = await stageFile(
        options.eventsPath,
        progress,
        (batch, at) => stageEvents(tx, batch, at, batch.map((l) => stamp(l.timestamp))),
      );
      const moved = await insertMissingEvents(tx);
      report.events = moved.inserted;
      report.present.events = moved.present;
    }
    if (options.statePath) {
      const stamp = stamper();
      report.skipped.state = await stageFile(
        options.statePath,
        progress,
        (batch, at) => stageState(tx, batch.map((line) => asStored(line, stamp)), at),
      );
      const moved = await insertMissingState(tx);
      report.stateEvents = moved.inserted;
      report.present.state = moved.present;
      report.minutes = await recordMinutes(tx);
      const rows = await rebuildRuns(tx);
      for (let i = 0; i < rows.length; i += BATCH) await upsertRuns(tx, rows.slice(i, i + BATCH));
      report.runs = rows.length;
      report.unfinished = rows.filter((r) => r.status === "running" || r.status === "queued")
        .length;
      const marks = await new StateStore(options.statePath).readWatermarks();
      await upsertWatermarks(tx, marks);
      report.watermarks = marks.size;
    }
  });
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

/**
 * Streams a log's well-formed lines into staging, a batch at a time.
 * @returns The torn or corrupt lines skipped.
 */
async function stageFile(
  path: string,
  progress: (lines: number) => void,
  stage: (batch: Line[], at: number) => Promise<void>,
): Promise<number> {
  const skipped = { count: 0 };
  let at = 0;
  for await (const batch of batches(readLogLines(path, skipped))) {
    await stage(batch, at);
    at += batch.length;
    progress(batch.length);
  }
  return skipped.count;
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
 * Each line's instant: its own valid `timestamp`, else the last valid one before it in
 * the file (else the epoch). Deterministic, so a line orch never writes (no timestamp)
 * is stamped the same way each time the file is imported and is recognised as present.
 */
function stamper(): (value: unknown) => string {
  let last = new Date(0).toISOString();
  return (value) => {
    if (typeof value === "string" && !Number.isNaN(Date.parse(value))) last = value;
    return last;
  };
}

/**
 * A state line as the JSONL reader returns it (`v` defaults to 1). The `ts` column of
 * `state_events` needs an instant: a line without a valid `timestamp` (orch never writes
 * one) gets the instant of the line before it.
 */
function asStored(line: Line, stamp: (value: unknown) => string): StoredEvent {
  if (line.v === undefined) line.v = 1;
  line.timestamp = stamp(line.timestamp);
  return line as unknown as StoredEvent;
}

/** The schedule-minutes of the state events this import inserted; returns how many. */
async function recordMinutes(tx: TransactionSql): Promise<number> {
  let count = 0;
  for (let after = "0";;) {
    const rows = await tx<{ id: string; body: StoredEvent }[]>`
      select s.id::text as id, s.body from state_events s join import_new_state n using (id)
      where n.event in ('schedule_enqueued', 'schedule_skipped') and s.id > ${after}::bigint
      order by s.id limit ${BATCH}`;
    if (rows.length === 0) return count;
    const minutes = minuteRows(rows.map((r) => r.body), rows.map((r) => r.id));
    count += (await insertMinuteRows(tx, minutes)).length;
    after = rows[rows.length - 1].id;
  }
}

/**
 * The `runs` rows of the runs this import added state events to, folded from ALL their
 * state events in the store (so a run already there keeps what happened to it since).
 */
async function rebuildRuns(tx: TransactionSql): Promise<RunRow[]> {
  const runs = new Map<string, RunRow>();
  for (let after = "0";;) {
    const rows = await tx<{ id: string; body: Line }[]>`
      select e.id::text as id, e.body from state_events e
      where e.run_id in (select run_id from import_new_state
          where event in ('schedule_enqueued', 'run_started', 'run_finished'))
        and e.event in ('schedule_enqueued', 'run_started', 'run_finished')
        and e.id > ${after}::bigint
      order by e.id limit ${BATCH}`;
    if (rows.length === 0) return [...runs.values()];
    for (const r of rows) foldRunRow(runs, r.body);
    after = rows[rows.length - 1].id;
  }
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
