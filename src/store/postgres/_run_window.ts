import type { RunQuery } from "../../dashboard/mod.ts";
import type { Sql } from "./connect.ts";
import type { Table } from "./_table_cursor.ts";

type Line = Record<string, unknown>;

/** A run at the edge of what the dashboard loaded: older runs sort after it. */
export interface RunEdge {
  /** `runs.started` as the server's text (full precision). */
  started: string;
  runId: string;
}

/**
 * Runs newest first by `runs.started` (then run id), only those that started, after
 * `edge` when given.
 * @param sql The client.
 * @param limit How many.
 * @param edge Only runs older than this one.
 * @returns Their ids and start instants.
 */
export async function runsBefore(
  sql: Sql,
  limit: number,
  edge: RunEdge | null,
): Promise<RunEdge[]> {
  const rows = await sql<{ run_id: string; started: string }[]>`
    select run_id, started::text as started from runs
    where started is not null ${
    edge ? sql`and (started, run_id) < (${edge.started}::timestamptz, ${edge.runId})` : sql``
  }
    order by started desc, run_id desc limit ${limit}`;
  return rows.map((r) => ({ runId: r.run_id, started: r.started }));
}

/**
 * The lowest row id of some runs in each table.
 * @param sql The client.
 * @param runIds The runs.
 * @returns The ids (null for a table with no row of them).
 */
export async function firstIds(
  sql: Sql,
  runIds: readonly string[],
): Promise<{ events: number | null; state: number | null }> {
  const [row] = await sql<{ e: string | null; s: string | null }[]>`
    select (select min(id) from events where run_id = any(${runIds as string[]}::text[])) as e,
      (select min(id) from state_events where run_id = any(${runIds as string[]}::text[])) as s`;
  return {
    events: row.e === null ? null : Number(row.e),
    state: row.s === null ? null : Number(row.s),
  };
}

/**
 * Rows of some runs with an id up to `upTo`, in id order (by the `(run_id, id)` index).
 * @param sql The client.
 * @param table The table.
 * @param runIds The runs.
 * @param upTo The highest id to read.
 * @returns The rows.
 */
export async function runRows(
  sql: Sql,
  table: Table,
  runIds: readonly string[],
  upTo: number,
): Promise<{ id: string; body: Line }[]> {
  if (upTo <= 0 || runIds.length === 0) return [];
  return await sql<{ id: string; body: Line }[]>`
    select id, body from ${sql(table)}
    where run_id = any(${runIds as string[]}::text[]) and id <= ${upTo} order by id`;
}

/**
 * How many runs older than `edge` match a dashboard query (runs that never started are
 * not listed by the dashboard, so not counted).
 * @param sql The client.
 * @param edge The oldest loaded run.
 * @param query The filters (`limit`/`offset` ignored).
 * @param loaded Runs older than `edge` that were loaded anyway.
 * @returns The count.
 */
export async function countBefore(
  sql: Sql,
  edge: RunEdge,
  query: RunQuery,
  loaded: readonly string[],
): Promise<number> {
  const eq = (column: string, value: string | undefined) =>
    value ? sql`and ${sql(column)} = ${value}` : sql``;
  const [row] = await sql<{ n: number }[]>`
    select count(*)::int as n from runs
    where started is not null and status <> 'queued'
      and (started, run_id) < (${edge.started}::timestamptz, ${edge.runId})
      and not (run_id = any(${loaded as string[]}::text[]))
      ${eq("status", query.status)} ${eq("dag_name", query.dag)}
      ${eq("schedule_id", query.schedule)} ${eq("tenant_id", query.tenant)}`;
  return row.n;
}

/**
 * Distinct DAG names, schedule ids and tenants of every run in the store.
 * @param sql The client.
 * @returns The filter menus' values.
 */
export async function runFacets(
  sql: Sql,
): Promise<{ dags: string[]; schedules: string[]; tenants: string[] }> {
  const [row] = await sql<{ dags: string[]; schedules: string[]; tenants: string[] }[]>`
    select array(select distinct dag_name from runs where dag_name <> '') as dags,
      array(select distinct schedule_id from runs where schedule_id <> '') as schedules,
      array(select distinct tenant_id from runs where tenant_id <> '') as tenants`;
  return { dags: row.dags, schedules: row.schedules, tenants: row.tenants };
}
