import type { RunLock } from "../store/store.ts";
import type { RunStatus } from "../store/events.ts";

/** A schedule-minute enqueued by a tick, waiting for (or holding) a run slot. */
export interface QueuedRun {
  runId: string;
  scheduleId: string;
  /** `YYYY-MM-DDTHH:MM` in the schedule's zone. */
  minute: string;
  minuteUtc: string;
  /** Absolute DAG path. */
  dagPath: string;
  dagName: string;
  params: Record<string, unknown>;
  /** The run's liveness lock, taken before `schedule_enqueued` was written. */
  lock: RunLock;
}

/** Starts a queued run; resolves with its final status. Aborting `signal` cancels it. */
export type LaunchRun = (run: QueuedRun, signal: AbortSignal) => Promise<RunStatus>;

/** How a queued run ended. */
export interface QueuedOutcome {
  run: QueuedRun;
  status: RunStatus;
  /** Set when `launch` rejected. */
  error?: unknown;
}

/**
 * Runs queued runs with at most `maxParallel` at once, in the order queued.
 *
 * Concurrency: single-threaded (event loop); `push` starts runs synchronously when slots
 * are free. Outcomes are reported through `onDone` in completion order.
 */
export class RunQueue {
  #launch: LaunchRun;
  #maxParallel: number;
  #onDone: (outcome: QueuedOutcome) => Promise<void> | void;
  #waiting: QueuedRun[] = [];
  #active = new Map<string, { run: QueuedRun; abort: AbortController; done: Promise<void> }>();
  #idle: (() => void)[] = [];

  /**
   * @param launch Starts one run.
   * @param options `maxParallel` (at least 1) and `onDone`, awaited before the slot frees.
   */
  constructor(
    launch: LaunchRun,
    options: { maxParallel: number; onDone: (o: QueuedOutcome) => Promise<void> | void },
  ) {
    if (!(options.maxParallel >= 1)) throw new RangeError("maxParallel must be at least 1");
    this.#launch = launch;
    this.#maxParallel = options.maxParallel;
    this.#onDone = options.onDone;
  }

  /** Number of runs running now. */
  get active(): number {
    return this.#active.size;
  }

  /** Number of runs waiting for a slot. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** @param runs Runs to queue (started at once while slots are free). */
  push(...runs: QueuedRun[]): void {
    this.#waiting.push(...runs);
    this.#pump();
  }

  /** @returns Resolves when nothing waits and nothing runs. */
  idle(): Promise<void> {
    if (this.#active.size === 0 && this.#waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** @returns The runs that had not started; they will never start. */
  takeWaiting(): QueuedRun[] {
    const out = this.#waiting;
    this.#waiting = [];
    this.#checkIdle();
    return out;
  }

  /**
   * Cancels every running run (their launch sees `signal` abort).
   * @param reason The abort reason, recorded with the cancelled runs.
   */
  cancelActive(reason: string): void {
    for (const a of this.#active.values()) a.abort.abort(reason);
  }

  #pump(): void {
    while (this.#active.size < this.#maxParallel && this.#waiting.length > 0) {
      const run = this.#waiting.shift()!;
      const abort = new AbortController();
      const done = this.#run(run, abort.signal);
      this.#active.set(run.runId, { run, abort, done });
    }
  }

  async #run(run: QueuedRun, signal: AbortSignal): Promise<void> {
    let outcome: QueuedOutcome;
    try {
      outcome = { run, status: await this.#launch(run, signal) };
    } catch (error) {
      outcome = { run, status: signal.aborted ? "cancelled" : "failed", error };
    }
    try {
      await this.#onDone(outcome);
    } finally {
      run.lock.release();
      this.#active.delete(run.runId);
      this.#pump();
      this.#checkIdle();
    }
  }

  #checkIdle(): void {
    if (this.#active.size > 0 || this.#waiting.length > 0) return;
    for (const resolve of this.#idle.splice(0)) resolve();
  }
}
