import type { Clock } from "../lib/clock.ts";
import { newRunId } from "../lib/ids.ts";
import type { Sleep } from "../lib/sleep.ts";
import {
  defaultLiveness,
  hostName,
  recoverInTransaction,
  type Recovery,
  type RecoveryBackend,
  recoveryBackend,
  type RunLock,
} from "../run/mod.ts";
import type { RunStatus } from "../store/events.ts";
import type { NewEvent, RunFinishedEvent, StateStoreLike } from "../store/mod.ts";
import { FencedError, ScheduleMinuteConflictError } from "../store/postgres/errors.ts";
import type { Schedule } from "./schema.ts";
import { type KnownFires, schedulesToPlan } from "./known_fires.ts";
import { type LaunchRun, type QueuedOutcome, type QueuedRun, RunQueue } from "./run_queue.ts";
import {
  minuteKeys,
  type PlannedRun,
  type PlannedSkip,
  planTick,
  tickWindowStart,
} from "./tick.ts";
import { floorMinute } from "./_time.ts";

/** What a {@link Scheduler} works with. Every seam is injected. */
export interface SchedulerDeps {
  store: StateStoreLike;
  schedules: readonly Schedule[];
  clock: Clock;
  /** Waits between ticks and for the grace period; tests drive it. */
  sleep: Sleep;
  /** Runs a queued run (the CLI prepares the DAG and calls `runDag`). */
  launch: LaunchRun;
  /** Most runs at once (`SCHED_MAX_PARALLEL`). */
  maxParallel: number;
  /**
   * Liveness, task-event reader and log writer of the backend (crash recovery). Default:
   * the JSONL files at `runsDir` and `eventsPath`.
   */
  backend?: RecoveryBackend;
  /** JSONL: the task-level event log, closed with `dag_done` for recovered runs. */
  eventsPath?: string;
  /** Schedule id to the DAG's `name` (default the DAG file path). */
  dagNames?: ReadonlyMap<string, string>;
  /** JSONL: run lock directory (default `runs/` beside the state file). */
  runsDir?: string;
  /** This machine (default `Deno.hostname()`). */
  host?: string;
  /** Process check of crash recovery (default `/proc`). */
  processMayBeAlive?: (pid: number, since: Date) => boolean;
  /** Receives one human-readable line per decision and outcome. */
  onNotice?: (line: string) => void;
  /** How often a tick that enqueues nothing still looks for dead runs (default 60 s). */
  recoverEveryMs?: number;
  /**
   * Leadership (PostgreSQL `--serve`): ticks run only while `isLeader()`, through
   * `tickStore` (a store fenced by the leader's epoch, so a stale leader's tick is
   * refused with `FencedError` and rolls back whole). Runs already started go on with
   * `store` after leadership is lost.
   */
  leadership?: { isLeader(): boolean; tickStore: StateStoreLike };
  /**
   * Fire times a previous tick established (the next-due index of `--once`): ticks then
   * plan only the schedules that may have something to do and move the others'
   * watermarks without computing their fire times (see `known_fires.ts`). The decision
   * is still taken under the store's lock, against the watermarks read there.
   */
  known?: KnownFires;
}

/** What one tick decided. */
export interface TickReport {
  /** The tick's instant. */
  at: Date;
  enqueued: QueuedRun[];
  skipped: PlannedSkip[];
  recovered: Recovery["recovered"];
  /** Runs still unfinished and possibly alive; absent when the tick did not look. */
  unfinished?: number;
}

/**
 * The scheduler loop: ticks decide under the state store's exclusive lock (exactly once
 * per schedule-minute across processes on one machine), then runs execute outside the
 * lock with at most `maxParallel` at once.
 *
 * Decide, then do: a tick reads the watermarks and the recorded schedule-minutes, calls
 * the pure `planTick`, takes the liveness lock of every run it enqueues, appends the
 * `schedule_enqueued` / `schedule_skipped` events and moves the watermarks, all in one
 * transaction. A process that dies after the transaction leaves enqueued runs that the
 * next tick (of any process) records as `interrupted`.
 */
export class Scheduler {
  #d: SchedulerDeps;
  #queue: RunQueue;
  #outcomes: QueuedOutcome[] = [];
  #lastRecovery = Number.NEGATIVE_INFINITY;
  #backend: RecoveryBackend;
  #host: string;

  /** @param deps Store, schedules, clock, sleep, launcher and limits. */
  constructor(deps: SchedulerDeps) {
    this.#d = deps;
    this.#backend = deps.backend ?? recoveryBackend({
      liveness: defaultLiveness(deps),
      eventsPath: deps.eventsPath,
    });
    this.#host = deps.host ?? hostName();
    this.#queue = new RunQueue(deps.launch, {
      maxParallel: deps.maxParallel,
      onDone: (o) => this.#finished(o),
    });
  }

  /** Runs that ended so far, in completion order. */
  get outcomes(): readonly QueuedOutcome[] {
    return this.#outcomes;
  }

  /** Runs running now and waiting for a slot. */
  get pending(): { active: number; waiting: number } {
    return { active: this.#queue.active, waiting: this.#queue.waiting };
  }

  /**
   * One tick at `now`: recovers dead runs, enqueues the due schedule-minutes not yet
   * recorded by any process, and starts them (up to `maxParallel` at once).
   * @param now The tick's instant (default the clock's).
   * @returns What was enqueued, skipped and recovered.
   * A tick that loses a schedule-minute to another writer (`ScheduleMinuteConflictError`)
   * rolls back whole and reports nothing enqueued; it is not an error.
   * @throws {LogWriteError} When the state store cannot be written.
   */
  async tick(now: Date = this.#d.clock.now()): Promise<TickReport> {
    const d = this.#d;
    if (d.leadership && !d.leadership.isLeader()) {
      return { at: now, enqueued: [], skipped: [], recovered: [] };
    }
    const taken: RunLock[] = [];
    let report: TickReport;
    try {
      report = await (d.leadership?.tickStore ?? d.store).transaction(async (tx) => {
        const watermarks = await tx.watermarks();
        const schedules = d.known
          ? schedulesToPlan(d.schedules, d.known, { watermarks, now })
          : d.schedules;
        const recorded = await tx.scheduleMinutes(tickWindowStart(schedules, now));
        const input = {
          schedules,
          watermarks,
          enqueuedKeys: minuteKeys(recorded),
          runningBySchedule: new Map<string, number>(),
          now,
        };
        let plan = planTick(input);
        let recovery: Recovery | null = null;
        const recoverDue = now.getTime() - this.#lastRecovery >= (d.recoverEveryMs ?? 60_000);
        if (plan.enqueue.length > 0 || recoverDue) {
          this.#lastRecovery = now.getTime();
          recovery = await recoverInTransaction(tx, {
            clock: { now: () => now },
            backend: this.#backend,
            host: this.#host,
            processMayBeAlive: d.processMayBeAlive,
          });
          plan = planTick({ ...input, runningBySchedule: countBySchedule(recovery.unfinished) });
        }
        const enqueued: QueuedRun[] = [];
        const events: PlannedRun[] = [];
        for (const e of plan.enqueue) {
          const run = await this.#queued(e, now);
          taken.push(run.lock);
          enqueued.push(run);
          events.push({ ...e, run_id: run.runId, pid: Deno.pid, host: this.#host });
        }
        tx.append(...events, ...plan.skip);
        // Schedules left out by `known` have nothing to do: planTick would only move them.
        const minute = floorMinute(now);
        tx.setWatermarks(new Map(d.schedules.map((sch) => [sch.id, minute])));
        return {
          at: now,
          enqueued,
          skipped: plan.skip,
          recovered: recovery?.recovered ?? [],
          unfinished: recovery?.unfinished.length,
        };
      });
    } catch (err) {
      for (const lock of taken) lock.release();
      if (err instanceof FencedError) {
        // Leadership moved on while this process still believed it led: nothing written.
        this.#notice(`tick refused: ${err.message}`);
        return { at: now, enqueued: [], skipped: [], recovered: [] };
      }
      if (!(err instanceof ScheduleMinuteConflictError)) throw err;
      // Another scheduler (PostgreSQL, not serialised) recorded one of these minutes first:
      // the whole tick rolled back, so nothing of it runs here; the next tick re-plans.
      this.#notice(`tick lost a race for ${err.keys.join(", ")}: another scheduler has it`);
      return { at: now, enqueued: [], skipped: [], recovered: [] };
    }
    this.#announce(report);
    this.#queue.push(...report.enqueued);
    return report;
  }

  /** @returns Resolves when no run waits or runs. */
  drain(): Promise<void> {
    return this.#queue.idle();
  }

  /**
   * `--once`: one tick now, then runs until every enqueued run ended. When `stop` aborts
   * first, shuts down as {@link Scheduler.shutdown} does.
   * @param options `stop` (SIGINT/SIGTERM), the shutdown grace period, and `onTick`,
   *   called with the tick's report while its runs run (awaited before returning).
   * @returns The tick's report.
   */
  async runOnce(
    options: {
      stop?: AbortSignal;
      graceMs?: number;
      onTick?: (report: TickReport) => Promise<void>;
    } = {},
  ): Promise<TickReport> {
    const report = await this.tick();
    const after = options.onTick?.(report);
    try {
      await this.#drainUnless(options.stop, options.graceMs ?? 10_000);
    } finally {
      await after;
    }
    return report;
  }

  /**
   * `--serve`: ticks at start-up and then every `tickMs` until `stop` aborts, then shuts
   * down. A tick that fails (e.g. a full disk) is reported and the loop goes on.
   * @param options `tickMs`, `stop` and the shutdown grace period.
   */
  async serve(options: { tickMs: number; stop: AbortSignal; graceMs?: number }): Promise<void> {
    const { stop } = options;
    while (!stop.aborted) {
      try {
        await this.tick();
      } catch (err) {
        this.#notice(`tick failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      try {
        await this.#d.sleep(options.tickMs, stop);
      } catch {
        break;
      }
    }
    await this.shutdown({ graceMs: options.graceMs ?? 10_000 });
  }

  /**
   * Stops: runs that never started are recorded `cancelled`; running ones get `graceMs`
   * to finish, then are cancelled (and recorded `cancelled` by `runDag`).
   * @param options The grace period.
   */
  async shutdown(options: { graceMs: number }): Promise<void> {
    const never = this.#queue.takeWaiting();
    if (never.length > 0) {
      const events = never.map((r) =>
        cancelledEvent(r, "Scheduler stopped before the run started")
      );
      try {
        await this.#d.store.transaction((tx) => Promise.resolve(tx.append(...events)));
      } finally {
        for (const r of never) {
          r.lock.release();
          this.#outcomes.push({ run: r, status: "cancelled" });
          this.#notice(`cancelled ${r.scheduleId} ${r.minute} run ${r.runId} (never started)`);
        }
      }
    }
    if (this.#queue.active === 0) return;
    const grace = new AbortController();
    const idle = this.#queue.idle().then(() => true);
    const timedOut = this.#d.sleep(options.graceMs, grace.signal).then(() => false, () => true);
    const finished = await Promise.race([idle, timedOut]);
    grace.abort();
    if (finished) return;
    this.#notice(
      `grace period of ${options.graceMs} ms over: cancelling ${this.#queue.active} run(s)`,
    );
    this.#queue.cancelActive(`Scheduler stopped: grace period of ${options.graceMs} ms over`);
    await this.#queue.idle();
  }

  async #drainUnless(stop: AbortSignal | undefined, graceMs: number): Promise<void> {
    if (!stop) return await this.drain();
    if (stop.aborted) return await this.shutdown({ graceMs });
    let onStop!: () => void;
    const stopped = new Promise<boolean>((resolve) => {
      onStop = () => resolve(true);
      stop.addEventListener("abort", onStop, { once: true });
    });
    const done = await Promise.race([this.drain().then(() => false), stopped]);
    stop.removeEventListener("abort", onStop);
    if (done) await this.shutdown({ graceMs });
  }

  async #queued(e: PlannedRun, now: Date): Promise<QueuedRun> {
    const s = this.#d.schedules.find((x) => x.id === e.schedule_id)!;
    const runId = newRunId(now);
    return {
      runId,
      scheduleId: s.id,
      minute: e.minute,
      minuteUtc: e.minute_utc,
      dagPath: s.dagPath,
      dagName: this.#d.dagNames?.get(s.id) ?? s.dag,
      params: s.params,
      lock: await this.#backend.liveness.acquire(runId),
    };
  }

  async #finished(o: QueuedOutcome): Promise<void> {
    this.#outcomes.push(o);
    if (o.error !== undefined) {
      const why = o.error instanceof Error
        ? `${o.error.name}: ${o.error.message}`
        : String(o.error);
      this.#notice(`run ${o.run.runId} of ${o.run.scheduleId} could not run: ${why}`);
      // The run may have failed before run_finished was written; record it (once).
      await this.#d.store.transaction(async (tx) => {
        for await (const e of tx.scanBackward()) {
          if (e.run_id !== o.run.runId) continue;
          if (e.event === "run_finished") return;
          if (e.event === "schedule_enqueued") break;
        }
        tx.append({ ...cancelledEvent(o.run, why), status: o.status });
      }).catch((err) => this.#notice(`cannot record the end of run ${o.run.runId}: ${err}`));
      return;
    }
    this.#notice(`finished ${o.run.scheduleId} ${o.run.minute} run ${o.run.runId}: ${o.status}`);
  }

  #announce(report: TickReport): void {
    for (const r of report.recovered) {
      this.#notice(`recovered run ${r.runId} as interrupted: ${r.reason}`);
    }
    for (const s of report.skipped) {
      const detail = s.detail ? ` (${s.detail})` : "";
      this.#notice(`skipped ${s.schedule_id} ${s.minute}: ${s.reason}${detail}`);
    }
    for (const r of report.enqueued) {
      this.#notice(`enqueued ${r.scheduleId} ${r.minute} as run ${r.runId}`);
    }
  }

  #notice(line: string): void {
    this.#d.onNotice?.(line);
  }
}

function countBySchedule(runs: readonly { scheduleId?: string }[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of runs) {
    if (r.scheduleId !== undefined) out.set(r.scheduleId, (out.get(r.scheduleId) ?? 0) + 1);
  }
  return out;
}

function cancelledEvent(run: QueuedRun, reason: string): NewEvent<RunFinishedEvent> {
  const status: RunStatus = "cancelled";
  return {
    event: "run_finished",
    run_id: run.runId,
    schedule_id: run.scheduleId,
    dag_name: run.dagName,
    status,
    duration_s: 0,
    tasks_succeeded: 0,
    tasks_failed: 0,
    tasks_skipped: 0,
    reason,
  };
}
