import type { RunEvent, RunStatus, TaskStatus, Trigger } from "../../events.ts";
import type { RunResult, TaskResult } from "../../../run/types.ts";
import type { JsonObject } from "../../../workflows/types.ts";
import type { ClusterDb } from "./submit.ts";
import { PROGRESS_CHANNEL } from "./_events.ts";
import { listenChannel } from "../_channels.ts";
import { cancelClusterRun } from "./cancel.ts";
import { reapLostAttempts } from "./complete.ts";

/** Options of {@link followRun}. */
export interface FollowOptions {
  /** Called with each of the run's task-level events, in order. */
  onEvent?: (event: RunEvent) => void;
  /** Aborting it cancels the run cluster-wide (its reason is recorded). */
  signal?: AbortSignal;
  /** Poll interval when no notification arrives (default 1000 ms). */
  pollMs?: number;
  /** Also reap attempts of lost workers (any run) with this bound, every half of it. */
  lostMs?: number;
  /** Task indexes in the order results are listed (default index order). */
  order?: readonly number[];
}

/**
 * Follows a cluster run from its events until `dag_done`: reads the `events` rows of
 * the run after the last one seen, woken by `NOTIFY orch_run_progress` (payload: the
 * run id) with polling as the fallback and a re-read whenever listening (re)starts.
 * Without `onEvent` (quiet, `--json`) it reads only the run's status (`runs.status`
 * leaves `running` in the transaction that writes `dag_done`), not every event.
 * Meanwhile reaps lost workers' attempts, so a run whose workers all died still ends.
 * @param db The cluster database.
 * @param runId The run.
 * @param options Progress callback, cancellation, timings.
 * @returns How the run ended, as a local run's result.
 */
export async function followRun(
  db: ClusterDb,
  runId: string,
  options: FollowOptions = {},
): Promise<RunResult> {
  let wake: () => void = () => {};
  let woken = false;
  const poke = () => {
    woken = true;
    wake();
  };
  const unlisten = await listenChannel(
    db.sql,
    PROGRESS_CHANNEL,
    (p) => p === runId && poke(),
    poke,
  );
  const onAbort = () => poke();
  options.signal?.addEventListener("abort", onAbort);
  let cancelled = false;
  const reader = options.onEvent ? new EventReader(db, runId) : new EndReader(db, runId);
  let failingSince: number | null = null;
  let lastReap = Date.now();
  try {
    while (true) {
      if (options.signal?.aborted && !cancelled) {
        cancelled = true;
        await cancelClusterRun(db, runId, String(options.signal.reason ?? "Run cancelled"));
      }
      woken = false;
      const read = await reader.next().then((r) => {
        failingSince = null;
        return r;
      }, (err) => {
        // A blip (server restart, network) is waited out; a long outage is an error.
        failingSince ??= Date.now();
        if (Date.now() - failingSince > OUTAGE_MS) throw err;
        return { events: [], ended: false };
      });
      for (const e of read.events) options.onEvent?.(e);
      if (read.ended) break;
      if (options.lostMs && Date.now() - lastReap >= options.lostMs / 2) {
        lastReap = Date.now();
        await reapLostAttempts(db, { lostMs: options.lostMs }).catch(() => {});
      }
      if (woken) continue;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const wait = Math.min(options.pollMs ?? 1000, options.lostMs ? options.lostMs / 2 : 1e9);
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, wait);
      });
      clearTimeout(timer);
      wake = () => {};
    }
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    await unlisten();
  }
  return await readResult(db, runId, options.order);
}

/** How long the database may be unreachable before following gives up. */
const OUTAGE_MS = 60_000;

/** How long an event id may stay uncommitted behind a higher one that is visible. */
const LAG_MS = 3000;

/**
 * Reads a run's events in id order, each once. Ids come from one sequence but commit
 * out of order across processes (a worker's `task_log` batch may commit after another
 * worker's `task_ok`), so the ids below the highest one seen that were not read (holes:
 * other runs' events, rolled-back inserts, or ones not committed yet) are asked for
 * again on every read for {@link LAG_MS}. A read ships only rows not delivered before:
 * those above the highest id seen, and the holes that filled. (The run's `dag_start`,
 * written when it is submitted, is its lowest id: nothing precedes the first read.)
 */
class EventReader {
  #db: ClusterDb;
  #runId: string;
  #top = 0n;
  /** Id ranges below `#top` not read yet, `[from, to, since ms]`. */
  #holes: [bigint, bigint, number][] = [];

  constructor(db: ClusterDb, runId: string) {
    this.#db = db;
    this.#runId = runId;
  }

  async next(): Promise<Read> {
    const now = Date.now();
    this.#holes = this.#holes.filter((h) => h[2] > now - LAG_MS);
    const from = this.#holes.map((h) => String(h[0]));
    const to = this.#holes.map((h) => String(h[1]));
    // Two index range scans on (run_id, id): above the top, and each hole.
    const rows = await this.#db.sql<{ id: string; body: RunEvent }[]>`
      select id, body from events where run_id = ${this.#runId} and id > ${String(this.#top)}
      union all
      select e.id, e.body from unnest(${from}::bigint[], ${to}::bigint[]) as h(a, b)
        cross join lateral (select id, body from events
          where run_id = ${this.#runId} and id between h.a and h.b) as e
      order by id`;
    const out: RunEvent[] = [];
    const filled: bigint[] = [];
    const top = this.#top;
    for (const r of rows) {
      const id = BigInt(r.id);
      if (id <= top) filled.push(id);
      else if (this.#top > 0n && id > this.#top + 1n) {
        this.#holes.push([this.#top + 1n, id - 1n, now]);
      }
      if (id > this.#top) this.#top = id;
      out.push(r.body);
    }
    for (const id of filled) this.#holes = this.#holes.flatMap((h) => split(h, id));
    return { events: out, ended: out.some((e) => e.event === "dag_done") };
  }
}

/** What one read found: new events, and whether the run ended. */
type Read = { events: RunEvent[]; ended: boolean };

/** Reads only whether the run ended (no events). */
class EndReader {
  #db: ClusterDb;
  #runId: string;

  constructor(db: ClusterDb, runId: string) {
    this.#db = db;
    this.#runId = runId;
  }

  async next(): Promise<Read> {
    const [row] = await this.#db.sql<{ status: string }[]>`
      select status from runs where run_id = ${this.#runId}`;
    const open = row === undefined || row.status === "running" || row.status === "queued";
    return { events: [], ended: !open };
  }
}

/** A hole's range without `id` (zero, one or two ranges). */
function split(h: [bigint, bigint, number], id: bigint): [bigint, bigint, number][] {
  if (id < h[0] || id > h[1]) return [h];
  const parts: [bigint, bigint, number][] = [];
  if (id > h[0]) parts.push([h[0], id - 1n, h[2]]);
  if (id < h[1]) parts.push([id + 1n, h[1], h[2]]);
  return parts;
}

/**
 * The result of an ended cluster run, from `runs` and `run_tasks`.
 * @param db The cluster database.
 * @param runId The run.
 * @param order Task indexes in listing order (default index order).
 * @returns The result.
 */
export async function readResult(
  db: ClusterDb,
  runId: string,
  order?: readonly number[],
): Promise<RunResult> {
  const [run] = await db.sql<{
    status: RunStatus;
    spec: { dag_name: string; tenant_id: string; trigger: Trigger };
    duration_s: number;
  }[]>`
    select status, spec,
      extract(epoch from (coalesce(finished, now()) - started))::float8 as duration_s
    from runs where run_id = ${runId}`;
  const rows = await db.sql<{
    idx: number;
    task_id: string;
    state: TaskStatus;
    attempts: number;
    workflow_ref: string;
    output: string | null;
    error: string | null;
    reused_from: string | null;
  }[]>`
    select idx, task_id, state, attempts, spec->>'workflow_ref' as workflow_ref,
      output::text as output, error, reused_from
    from run_tasks where run_id = ${runId} order by idx`;
  const byIdx = order ? order.map((i) => rows[i]) : rows;
  const tasks = byIdx.map((r): TaskResult => {
    const t: TaskResult = {
      id: r.task_id,
      workflowRef: r.workflow_ref,
      status: r.state,
      attempts: r.reused_from ? 0 : r.attempts,
    };
    if (r.state === "success" && r.output !== null) t.output = JSON.parse(r.output) as JsonObject;
    if (r.error) t.error = r.error;
    if (r.reused_from) t.reusedFrom = r.reused_from;
    return t;
  });
  const count = (s: TaskStatus) => tasks.filter((t) => t.status === s).length;
  return {
    runId,
    dagName: run.spec.dag_name,
    tenantId: run.spec.tenant_id,
    status: run.status,
    trigger: run.spec.trigger,
    durationS: Math.round(run.duration_s * 1000) / 1000,
    tasks,
    succeeded: count("success"),
    failed: count("failed"),
    skipped: count("skipped"),
  };
}
