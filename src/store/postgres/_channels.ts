import { openListenClient, type Sql } from "./connect.ts";

/**
 * LISTEN/NOTIFY channels are database-wide, while each orch store lives in one schema
 * (tests use one per test; users may run two installations in one database). So every
 * channel is named after its kind **and** the schema: `orch_events_<schema>`, or, when
 * that would pass PostgreSQL's 63-byte identifier limit (a longer name is cut by
 * `LISTEN`, and `pg_notify` refuses it), `<kind>#<md5 of the schema>` (`#` cannot occur in
 * a schema orch accepts, so the two forms never meet). One store's writes then never
 * wake another's listeners.
 *
 * The name is computed in one place, the server function `orch_channel(kind, schema)`
 * (migration {@link CHANNEL_FUNCTION}); notifiers call it in SQL with `current_schema()`
 * (the store's `search_path`) or the functions' `p_schema`, and listeners ask it once
 * for the name to LISTEN on.
 */

/** The kinds of notification; each is a channel per schema. */
export type ChannelKind = "orch_events" | "orch_run_progress" | "orch_task_queued";

/** `orch_channel(kind, schema)`: the channel of a kind in a schema. */
export const CHANNEL_FUNCTION = `
create or replace function orch_channel(p_kind text, p_schema text)
returns text language sql immutable parallel safe as $fn$
  select case when octet_length(p_kind || '_' || p_schema) <= 63
    then p_kind || '_' || p_schema
    else p_kind || '#' || md5(p_schema) end
$fn$`;

/** The LISTEN client shared by a client's listeners, and how many use it. */
const SHARED = new WeakMap<Sql, { client: Sql; users: number }>();

/**
 * Listens to a kind's channel of the client's schema (the name is asked of the server
 * once). The listening session is a dedicated client's (`openListenClient`: without
 * `idle_session_timeout`, which would end it every few seconds, losing notifications
 * meanwhile and waking the caller for nothing), shared by the client's listeners and
 * ended with the last. postgres.js re-listens after the session comes back, calling
 * `onListen` again (notifications sent meanwhile are lost, so the caller re-reads then).
 * @param sql The client, whose `search_path` is the store's schema.
 * @param kind The kind.
 * @param onNotify Called with each notification's payload.
 * @param onListen Called whenever listening (re)starts.
 * @returns Stops listening (never throws).
 */
export async function listenChannel(
  sql: Sql,
  kind: ChannelKind,
  onNotify: (payload: string) => void,
  onListen?: () => void,
): Promise<() => Promise<void>> {
  const shared = share(sql);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await unshare(sql, shared);
  };
  try {
    const [{ name }] = await sql<{ name: string }[]>`
      select orch_channel(${kind}, current_schema()) as name`;
    const sub = await (shared?.client ?? sql).listen(name, onNotify, onListen);
    return async () => {
      await sub.unlisten().catch(() => {});
      await stop();
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Takes a use of `sql`'s shared LISTEN client (made on first use; null: listen on `sql`). */
function share(sql: Sql): { client: Sql; users: number } | null {
  let shared = SHARED.get(sql);
  if (!shared) {
    const client = openListenClient(sql);
    if (!client) return null;
    shared = { client, users: 0 };
    SHARED.set(sql, shared);
  }
  shared.users++;
  return shared;
}

/** Gives a use back; the last one ends the client. */
async function unshare(sql: Sql, shared: { client: Sql; users: number } | null): Promise<void> {
  if (!shared || --shared.users > 0) return;
  if (SHARED.get(sql) === shared) SHARED.delete(sql);
  await shared.client.end().catch(() => {});
}
