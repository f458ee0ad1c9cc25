import { sessionName, type Sql } from "./connect.ts";

/** What `orch runs` and a waiting submitter say about a run no worker can take. */
export const NO_WORKER_MESSAGE =
  "waiting: no orch worker is connected to this database (start one with `orch worker`)";

/** `orch runs --json`: the `waiting` field of a run that waits for a worker. */
export const NO_WORKER = "no_worker";

/**
 * The `application_name`s of an `orch worker`'s sessions on a schema (its pool and its
 * auxiliary client; see `sessionName`).
 * @param schema The store's schema.
 * @returns The names.
 */
export function workerSessionNames(schema: string): string[] {
  return [sessionName("orch worker", schema), sessionName("orch worker aux", schema)];
}

/**
 * The cluster runs among `runIds` that wait for a worker: they have attempts `queued`
 * (ready, or a retry waiting for its delay) while no `orch worker` of this schema is
 * alive. A worker is alive while one of its sessions is connected and has been used
 * within `lostMs` (a worker polls the queue every second, so a live one always has;
 * a stopped or cut-off one stops using its sessions, and the server drops a vanished
 * peer's within about 5 s), or is running a statement. A statement whose session waits
 * for the client (`wait_event_type` `Client`: e.g. between the messages of an extended
 * query, the client stopped after a Describe) is not running: a process stopped there
 * would otherwise look alive forever. When the session state of other roles is hidden
 * from this user, a connected worker session counts as alive.
 * @param sql A client on the store's schema.
 * @param options The schema, the runs to look at, and the liveness bound (ms).
 * @returns The run ids that wait for a worker (empty when a worker is alive).
 */
export async function runsWaitingForWorker(
  sql: Sql,
  options: { schema: string; runIds: readonly string[]; lostMs: number },
): Promise<Set<string>> {
  if (options.runIds.length === 0) return new Set();
  const rows = await sql<{ run_id: string }[]>`
    select distinct q.run_id from task_queue q
    where q.run_id = any(${options.runIds as string[]}::text[]) and q.state = 'queued'
      and not exists (
        select 1 from pg_stat_activity a
        where a.datname = current_database()
          and a.application_name = any(${workerSessionNames(options.schema)}::text[])
          and (a.state_change is null
            or (a.state = 'active' and a.wait_event_type is distinct from 'Client')
            or a.state_change > now() - make_interval(secs => ${options.lostMs / 1000})))`;
  return new Set(rows.map((r) => r.run_id));
}

/**
 * Watches a cluster run while its submitter waits, and calls `onWaiting` once, the first
 * time the run has queued attempts and no worker is alive (see
 * {@link runsWaitingForWorker}). Checks at once, then every `everyMs`; a failed check is
 * ignored (the next one retries).
 * @param sql A client on the store's schema.
 * @param options The run, schema, bound, interval and callback.
 * @returns A function that stops watching (resolves once no check is in flight).
 */
export function watchForWorkers(
  sql: Sql,
  options: {
    schema: string;
    runId: string;
    lostMs: number;
    everyMs?: number;
    onWaiting: () => void;
  },
): () => Promise<void> {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let inFlight: Promise<void> = Promise.resolve();
  const check = async () => {
    const waiting = await runsWaitingForWorker(sql, { ...options, runIds: [options.runId] })
      .catch(() => new Set<string>());
    if (stopped) return;
    if (waiting.size > 0) {
      stopped = true;
      options.onWaiting();
      return;
    }
    timer = setTimeout(() => inFlight = check(), options.everyMs ?? 1000);
  };
  inFlight = check();
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await inFlight;
  };
}
