import type { Clock } from "../lib/clock.ts";
import { EventLog } from "../store/event_log.ts";
import { EVENT_SCHEMA_VERSION } from "../store/events.ts";
import type { NewEvent, RunFinishedEvent, StoredEvent } from "../store/state_events.ts";
import type { StateTransaction } from "../store/state_store.ts";
import type { RunLiveness, StateStoreLike, Store } from "../store/store.ts";
import { FileRunLiveness, hostName, processMayBeAlive } from "./liveness.ts";
import { JsonlTaskEvents, readRunTasks } from "./run_tasks.ts";

/** How far back unfinished runs are looked for: older `run_started` lines are not read. */
export const UNFINISHED_HORIZON_MS = 7 * 24 * 3_600_000;

export { STALE_LOCK_MS } from "./liveness.ts";

/** A run enqueued or started, with no `run_finished` yet. */
export interface UnfinishedRun {
  runId: string;
  scheduleId?: string;
  dagName: string;
  tenantId: string;
  /** False while only `schedule_enqueued` was recorded (waiting for a slot). */
  started: boolean;
  pid: number;
  host: string;
  /** When the newest of its events was recorded. */
  since: Date;
}

/**
 * Folds the state events, newest first, into the runs that have not finished.
 * @param events State events, newest first.
 * @param options `now` and `horizonMs`: events older than `now - horizonMs` are not read.
 * @returns Unfinished runs, newest first.
 */
export async function findUnfinishedRuns(
  events: AsyncIterable<StoredEvent>,
  options: { now: Date; horizonMs?: number },
): Promise<UnfinishedRun[]> {
  const stopAt = options.now.getTime() - (options.horizonMs ?? UNFINISHED_HORIZON_MS);
  const finished = new Set<string>();
  const seen = new Map<string, UnfinishedRun>();
  for await (const e of events) {
    if (Date.parse(e.timestamp) < stopAt) break;
    const runId = typeof e.run_id === "string" ? e.run_id : null;
    if (!runId) continue;
    if (e.event === "run_finished") finished.add(runId);
    if (finished.has(runId) || seen.has(runId)) continue;
    if (e.event === "run_started" || e.event === "schedule_enqueued") {
      seen.set(runId, {
        runId,
        scheduleId: typeof e.schedule_id === "string" ? e.schedule_id : undefined,
        dagName: String(e.dag_name ?? e.dag ?? ""),
        tenantId: String(e.tenant_id ?? e.tenant ?? ""),
        started: e.event === "run_started",
        pid: Number(e.pid),
        host: String(e.host ?? ""),
        since: new Date(e.timestamp),
      });
    }
  }
  return [...seen.values()];
}

/** Seams of {@link isRunDead}, injected by tests. */
export interface LivenessProbe {
  /** This machine's host name. */
  host: string;
  /** The runs directory (lock files). */
  runsDir: string;
  /** Default {@link processMayBeAlive}. */
  processMayBeAlive?: (pid: number, since: Date) => boolean;
}

/**
 * The JSONL rule ({@link FileRunLiveness}): a run is dead when it was recorded on this
 * host, its process is gone and nobody holds its run lock.
 * @param run The unfinished run.
 * @param probe Host, lock directory and process check.
 * @returns Why it is dead, or `null` when it may be alive.
 */
export function isRunDead(run: UnfinishedRun, probe: LivenessProbe): Promise<string | null> {
  return new FileRunLiveness(probe.runsDir).isDead(run, {
    host: probe.host,
    now: new Date(),
    processMayBeAlive: probe.processMayBeAlive ?? processMayBeAlive,
  });
}

/** What recovery needs of a {@link Store}. */
export type RecoveryBackend = Pick<Store, "liveness" | "taskEvents" | "openEventLog">;

/**
 * The backend recovery works on: the store's liveness, task-event reader and log writer,
 * or (JSONL shorthand) `runsDir` and `eventsPath`.
 */
export interface RecoveryOptions {
  clock: Clock;
  /** This machine. */
  host: string;
  /** Default {@link processMayBeAlive}. */
  processMayBeAlive?: (pid: number, since: Date) => boolean;
  /** Default {@link UNFINISHED_HORIZON_MS}. */
  horizonMs?: number;
  /** The backend (or give `runsDir` and `eventsPath` for the JSONL files). */
  backend?: RecoveryBackend;
  /** JSONL: the runs directory. */
  runsDir?: string;
  /** JSONL: the task-level event log. */
  eventsPath?: string;
}

/**
 * @param options The backend, or the JSONL paths (`liveness` may replace `runsDir`).
 * @returns The backend pieces recovery uses.
 * @throws {TypeError} When neither `store` nor both JSONL paths are given.
 */
export function recoveryBackend(
  options: Pick<RecoveryOptions, "backend" | "runsDir" | "eventsPath"> & {
    liveness?: RunLiveness;
  },
): RecoveryBackend {
  if (options.backend) return options.backend;
  const { runsDir, eventsPath } = options;
  const liveness = options.liveness ??
    (runsDir === undefined ? undefined : new FileRunLiveness(runsDir));
  if (!liveness || eventsPath === undefined) {
    throw new TypeError("Recovery needs a backend, or runsDir and eventsPath");
  }
  return {
    liveness,
    taskEvents: new JsonlTaskEvents(eventsPath),
    openEventLog: (o) => new EventLog(eventsPath, o),
  };
}

/** What {@link recoverInTransaction} found. */
export interface Recovery {
  /** Runs just recorded `interrupted`. */
  recovered: (UnfinishedRun & { reason: string })[];
  /** Runs still unfinished and possibly alive. */
  unfinished: UnfinishedRun[];
}

/**
 * Inside a state transaction: finds unfinished runs and, for each dead one, closes its
 * task-level log with a `dag_done` of status `interrupted` (when it started and has
 * none), removes its stale lock file and appends `run_finished` with status
 * `interrupted` (with task counts from the event log). Under the store's lock, so a run
 * cannot finish between the check and the append, and two processes never both record
 * the same run. Then removes stale lock files that belong to no recorded run.
 *
 * Crash safety: the task-level log is written and flushed before the transaction commits
 * `run_finished`. A process killed in between leaves the run unfinished, and the next
 * recovery sees the `dag_done` and does not write it again; so every recovered run ends
 * up with exactly one `dag_done` and one `run_finished`, wherever the recovering process
 * dies.
 * @param tx The transaction.
 * @param options Clock, host, process check and the backend (or the JSONL paths).
 * @returns The recovered and the remaining unfinished runs.
 * @throws {LogWriteError} When the event log cannot be written (nothing is recorded then).
 */
export async function recoverInTransaction(
  tx: StateTransaction,
  options: RecoveryOptions,
): Promise<Recovery> {
  const now = options.clock.now();
  const backend = recoveryBackend(options);
  const check = {
    host: options.host,
    now,
    processMayBeAlive: options.processMayBeAlive ?? processMayBeAlive,
  };
  const runs = await findUnfinishedRuns(tx.scanBackward(), { now, horizonMs: options.horizonMs });
  const out: Recovery = { recovered: [], unfinished: [] };
  const log = backend.openEventLog();
  try {
    for (const run of runs) {
      const why = await backend.liveness.isDead(run, check);
      if (!why) {
        out.unfinished.push(run);
        continue;
      }
      const tasks = run.started
        ? await readRunTasks(backend.taskEvents, run.runId)
        : { succeeded: 0, failed: 0, skipped: 0, found: false, done: true };
      const counts = {
        tasks_succeeded: tasks.succeeded,
        tasks_failed: tasks.failed,
        tasks_skipped: tasks.skipped,
        duration_s: Math.max(0, (now.getTime() - run.since.getTime()) / 1000),
      };
      const reason = `Interrupted: ${why}`;
      if (tasks.found && !tasks.done) {
        log.append({
          timestamp: now.toISOString(),
          event: "dag_done",
          run_id: run.runId,
          dag_name: run.dagName,
          tenant_id: run.tenantId,
          status: "interrupted",
          ...counts,
          reason,
          v: EVENT_SCHEMA_VERSION,
        });
      }
      await backend.liveness.forget(run.runId);
      const event: NewEvent<RunFinishedEvent> = {
        event: "run_finished",
        run_id: run.runId,
        ...(run.scheduleId ? { schedule_id: run.scheduleId } : {}),
        dag_name: run.dagName,
        status: "interrupted",
        ...counts,
        reason,
      };
      tx.append(event);
      out.recovered.push({ ...run, reason });
    }
  } finally {
    await log.close();
  }
  const live = new Set(out.unfinished.map((r) => r.runId));
  await backend.liveness.sweep({ now, keep: live });
  return out;
}

/**
 * Records every dead run of this host as `interrupted` (state store and event log).
 * Used by `orch runs` and at scheduler start-up.
 * @param store The state store.
 * @param options The backend (or the JSONL paths) and clock; `host` defaults to this machine.
 * @returns The runs recovered.
 * @throws {LogWriteError} When the state store or the event log cannot be written.
 */
export async function recoverDeadRuns(
  store: StateStoreLike,
  options: Omit<RecoveryOptions, "host"> & { host?: string },
): Promise<Recovery["recovered"]> {
  const probe = { ...options, host: options.host ?? hostName() };
  const { recovered } = await store.transaction((tx) => recoverInTransaction(tx, probe));
  return recovered;
}
