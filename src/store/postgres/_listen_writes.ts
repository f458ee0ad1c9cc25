import type { Sql } from "./connect.ts";
import { EVENTS_CHANNEL } from "./event_log.ts";
import { PROGRESS_CHANNEL, QUEUED_CHANNEL } from "./cluster/_events.ts";

/**
 * Listens for writes to a store: `orch_events` (the event log's and the state store's
 * commits; payload: the schema, other schemas' are ignored) and the cluster's
 * `orch_run_progress` and `orch_task_queued` (their payload is a run id, so other
 * schemas' runs wake it too: a wasted wake-up costs one cheap poll). `onWake` is also
 * called whenever listening (re)starts, because notifications sent while the listen
 * connection was away are lost and the caller must re-read.
 * @param sql The client (postgres.js keeps one listen connection for it).
 * @param schema The store's schema, or undefined to take every `orch_events`.
 * @param onWake Called on each wake-up.
 * @returns Stops listening.
 */
export async function listenForWrites(
  sql: Sql,
  schema: string | undefined,
  onWake: () => void,
): Promise<() => Promise<void>> {
  const mine = (payload: string) => !schema || payload === schema;
  const subs = await Promise.all([
    sql.listen(EVENTS_CHANNEL, (p) => mine(p) && onWake(), onWake),
    sql.listen(PROGRESS_CHANNEL, () => onWake()),
    sql.listen(QUEUED_CHANNEL, () => onWake()),
  ]);
  return async () => {
    for (const sub of subs) await sub.unlisten().catch(() => {});
  };
}
