import type { TransactionSql } from "./connect.ts";

type Line = Record<string, unknown>;

/**
 * Staging for `orch db import`: the files' lines go to temporary tables of the import's
 * transaction (dropped at its end, so memory stays one batch whatever the file size),
 * then each target table gets, in file order, only the lines it does not already hold.
 *
 * A line's identity is its whole JSON object (`md5(body::text)`; jsonb's text is
 * canonical) counted with multiplicity: the k-th copy of a line in the file is inserted
 * only when the table holds fewer than k copies. So importing the same logs again adds
 * nothing, a log that grew adds its new lines, another host's logs (other run ids) are
 * added whole, and two identical lines of one file both stay.
 */
export const STAGE_TABLES = [
  `create temp table import_events (ord bigint, run_id text, event text, ts timestamptz,
    body jsonb) on commit drop`,
  `create temp table import_state (ord bigint, event text, ts timestamptz, schedule_id text,
    run_id text, body jsonb) on commit drop`,
  // The state events this import inserted (their schedule-minutes and runs follow).
  `create temp table import_new_state (id bigint, run_id text, event text) on commit drop`,
];

/**
 * Creates the staging tables in the transaction.
 * @param tx The import's transaction.
 */
export async function createStage(tx: TransactionSql): Promise<void> {
  for (const ddl of STAGE_TABLES) await tx.unsafe(ddl);
}

/**
 * Stages a batch of event lines.
 * @param tx The import's transaction.
 * @param lines Well-formed lines, in file order.
 * @param first The file position (0-based) of the first line.
 * @param stamps Each line's instant (its valid `timestamp`, else a stand-in).
 */
export async function stageEvents(
  tx: TransactionSql,
  lines: Line[],
  first: number,
  stamps: string[],
): Promise<void> {
  await tx`
    insert into import_events (ord, run_id, event, ts, body)
    select ord + ${first}, run_id, event, ts, body from unnest(
      ${lines.map((r) => textOrNull(r.run_id))}::text[],
      ${lines.map((r) => String(r.event))}::text[],
      ${stamps}::timestamptz[],
      ${lines.map((r) => JSON.stringify(r))}::text[]::jsonb[]
    ) with ordinality as u(run_id, event, ts, body, ord)`;
}

/**
 * Stages a batch of state lines (already stamped: `v` and `timestamp` set).
 * @param tx The import's transaction.
 * @param lines Stamped lines, in file order.
 * @param first The file position (0-based) of the first line.
 */
export async function stageState(tx: TransactionSql, lines: Line[], first: number): Promise<void> {
  await tx`
    insert into import_state (ord, event, ts, schedule_id, run_id, body)
    select ord + ${first}, event, ts, schedule_id, run_id, body from unnest(
      ${lines.map((e) => String(e.event))}::text[],
      ${lines.map((e) => String(e.timestamp))}::timestamptz[],
      ${lines.map((e) => textOrNull(e.schedule_id))}::text[],
      ${lines.map((e) => textOrNull(e.run_id))}::text[],
      ${lines.map((e) => JSON.stringify(e))}::text[]::jsonb[]
    ) with ordinality as u(event, ts, schedule_id, run_id, body, ord)`;
}

/**
 * Moves the staged event lines the `events` table does not hold yet into it, in file
 * order.
 * @param tx The import's transaction.
 * @returns Rows inserted and lines found already present.
 */
export async function insertMissingEvents(
  tx: TransactionSql,
): Promise<{ inserted: number; present: number }> {
  const inserted = (await tx`
    insert into events (run_id, event, ts, body)
    select run_id, event, ts, body from (${missing(tx, "import_events", "events")}) m
    order by m.ord`).count;
  return { inserted, present: await staged(tx, "import_events") - inserted };
}

/**
 * Moves the staged state lines `state_events` does not hold yet into it, in file order,
 * and notes the new rows in `import_new_state`.
 * @param tx The import's transaction.
 * @returns Rows inserted and lines found already present.
 */
export async function insertMissingState(
  tx: TransactionSql,
): Promise<{ inserted: number; present: number }> {
  const inserted = (await tx`
    with added as (
      insert into state_events (event, ts, schedule_id, run_id, body)
      select event, ts, schedule_id, run_id, body
      from (${missing(tx, "import_state", "state_events")}) m
      order by m.ord
      returning id, run_id, event)
    insert into import_new_state (id, run_id, event) select id, run_id, event from added`).count;
  return { inserted, present: await staged(tx, "import_state") - inserted };
}

/**
 * The staged lines `target` holds fewer copies of than the file has so far: line k of a
 * kind (same `md5(body::text)`, in file order) is missing when `target` holds fewer than
 * k. Only target rows of the staged run ids (and those without one) are counted.
 */
function missing(tx: TransactionSql, stage: string, target: string) {
  return tx`
    select s.* from (
      select i.*, md5(i.body::text) as h,
        row_number() over (partition by md5(i.body::text) order by i.ord) as k
      from ${tx(stage)} i) s
    left join (
      select md5(e.body::text) as h, count(*) as n from ${tx(target)} e
      where e.run_id in (select distinct run_id from ${tx(stage)})
        or (e.run_id is null and exists (select 1 from ${tx(stage)} where run_id is null))
      group by 1) held using (h)
    where s.k > coalesce(held.n, 0)`;
}

async function staged(tx: TransactionSql, table: string): Promise<number> {
  const [{ n }] = await tx<{ n: number }[]>`select count(*)::int as n from ${tx(table)}`;
  return n;
}

function textOrNull(value: unknown): string | null {
  return value === undefined || value === null ? null : String(value);
}
