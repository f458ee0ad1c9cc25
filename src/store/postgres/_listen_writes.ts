import type { Sql } from "./connect.ts";
import { EVENTS_CHANNEL } from "./event_log.ts";
import { PROGRESS_CHANNEL, QUEUED_CHANNEL } from "./cluster/_events.ts";
import { listenChannel } from "./_channels.ts";

/**
 * Listens for writes to the client's store: its schema's `orch_events` (the event log's
 * and the state store's commits), `orch_run_progress` and `orch_task_queued` channels
 * (cluster runs). Channels are per schema (`_channels.ts`), so other stores in the same
 * database never wake it. `onWake` is also called whenever listening (re)starts,
 * because notifications sent while the listen connection was away are lost and the
 * caller must re-read.
 * @param sql The client, whose `search_path` is the store's schema (postgres.js keeps one
 *   listen connection for it).
 * @param onWake Called on each wake-up.
 * @returns Stops listening.
 */
export async function listenForWrites(
  sql: Sql,
  onWake: () => void,
): Promise<() => Promise<void>> {
  // One (re)listen wake-up is enough: the listen connection carries all three.
  const stops = await Promise.all([
    listenChannel(sql, EVENTS_CHANNEL, () => onWake(), onWake),
    listenChannel(sql, PROGRESS_CHANNEL, () => onWake()),
    listenChannel(sql, QUEUED_CHANNEL, () => onWake()),
  ]);
  return async () => {
    for (const stop of stops) await stop();
  };
}
