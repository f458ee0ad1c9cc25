import type { StoredEvent } from "../state_events.ts";
import type { TaskEventReader } from "../store.ts";
import type { Sql } from "./connect.ts";

/** Rows read per page by {@link PostgresTaskEvents.scanRun}. */
const PAGE = 500;

/**
 * The `events` table read back by run: one run's rows, newest first, through the
 * `(run_id, id)` index, a page at a time (stop early to read less). The client is
 * borrowed: the caller ends it.
 */
export class PostgresTaskEvents implements TaskEventReader {
  #sql: Sql;

  /** @param sql A client on a migrated schema. */
  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /**
   * @param runId The run.
   * @returns Its task-level events, newest first.
   */
  async *scanRun(runId: string): AsyncGenerator<StoredEvent> {
    const sql = this.#sql;
    let before: string | null = null;
    while (true) {
      const rows: { id: string; body: StoredEvent }[] = before === null
        ? await sql`select id, body from events where run_id = ${runId}
            order by id desc limit ${PAGE}`
        : await sql`select id, body from events where run_id = ${runId} and id < ${before}
            order by id desc limit ${PAGE}`;
      for (const r of rows) yield r.body;
      if (rows.length < PAGE) return;
      before = rows[rows.length - 1].id;
    }
  }
}
