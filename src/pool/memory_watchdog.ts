/**
 * Watches the resident memory of this process while workflows run in worker threads.
 *
 * Why: worker threads share the process, and Deno gives a Web Worker no heap limit of its
 * own. A workflow that allocates without bound in a thread grows until its V8 isolate
 * reaches the heap limit, and then V8 aborts the whole process (exit 133, a C backtrace,
 * nothing recorded). `worker.terminate()` stops such a thread only if its plugin yields
 * (measured: an allocating synchronous loop keeps running after `terminate()`, as a
 * spinning one does). Sampling the RSS lets orch act while it still can: fail the attempt,
 * quarantine the workflow into worker processes, stop the thread, or, when it cannot be
 * stopped, record and stop cleanly.
 * @module
 */
import type { WorkflowSource } from "../workflows/registry.ts";

/** Options of {@link MemoryWatchdog}. */
export interface MemoryWatchdogOptions {
  /** The limit in MiB; past it `onOver` is called. */
  limitMb: number;
  /** Called on each sample over the limit, with the RSS in MiB; return true to stop watching. */
  onOver: (rssMb: number) => boolean;
  /** Sampling period in ms (default 50: ~8 µs per sample, measured). */
  intervalMs?: number;
  /** The process's RSS in bytes (default `Deno.memoryUsage().rss`). */
  rssBytes?: () => number;
  /** Whether there is anything to watch; when it returns false the watchdog stops itself. */
  active?: () => boolean;
}

/** Default sampling period: a plugin allocating ~1.2 GB/s (measured) gains ~60 MB between samples. */
export const WATCHDOG_INTERVAL_MS = 50;

/**
 * Samples the RSS on a timer that does not keep the process alive. Started and stopped by
 * its owner; `start()` twice is one timer.
 */
export class MemoryWatchdog {
  readonly limitMb: number;
  readonly #onOver: (rssMb: number) => boolean;
  readonly #intervalMs: number;
  readonly #rssBytes: () => number;
  readonly #active: () => boolean;
  #timer: ReturnType<typeof setInterval> | undefined;

  /** @param options Limit, callback, period and RSS source. */
  constructor(options: MemoryWatchdogOptions) {
    if (!(options.limitMb > 0)) {
      throw new RangeError(`Memory limit must be > 0 MiB: got ${options.limitMb}`);
    }
    this.limitMb = options.limitMb;
    this.#onOver = options.onOver;
    this.#intervalMs = options.intervalMs ?? WATCHDOG_INTERVAL_MS;
    this.#rssBytes = options.rssBytes ?? (() => Deno.memoryUsage().rss);
    this.#active = options.active ?? (() => true);
  }

  /** Starts sampling (no-op when running). */
  start(): void {
    if (this.#timer !== undefined) return;
    const timer = setInterval(() => this.#active() ? this.check() : this.stop(), this.#intervalMs);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  /** Stops sampling. */
  stop(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Takes one sample now.
   * @returns Whether the RSS was over the limit.
   */
  check(): boolean {
    const rssMb = this.#rssBytes() / 2 ** 20;
    if (rssMb <= this.limitMb) return false;
    if (this.#onOver(rssMb)) this.stop();
    return true;
  }
}

/** A job that was running in a worker thread when the memory limit was passed. */
export interface MemorySuspect {
  source: WorkflowSource;
  runId: string;
  taskId: string;
  attempt: number;
}

/** What the pool reports when the memory limit is passed. */
export interface MemoryIncident {
  rssMb: number;
  limitMb: number;
  /** The jobs then running in threads that are blamed. */
  suspects: MemorySuspect[];
}

/**
 * The thread memory watchdog. When the process's RSS passes `limitMb` while jobs run in
 * threads, the pool calls `onExceeded` with the jobs then running in threads, fails them
 * with a `MemoryLimitError` carrying the message it returns and replaces their workers.
 * A thread whose plugin yields stops then, and its memory is freed (measured: 614 MB back
 * to 52 MB within 180 ms); one allocating in a synchronous loop does not. So the pool keeps
 * sampling: back under the limit within `graceMs`, the incident is contained
 * (`onContained`) and everything else went on running; otherwise (or past `criticalMb`)
 * the pool cancels every job and closes, and `onStuck` must end the process before V8
 * aborts it. Over the limit with no job in a thread, nothing happens.
 */
export interface MemoryLimitOptions {
  limitMb: number;
  /** Records the incident; returns the error message of the suspects' attempts. */
  onExceeded: (incident: MemoryIncident) => string;
  /** The suspects' threads stopped: the RSS is back under the limit. */
  onContained?: (incident: MemoryIncident) => void;
  /** A suspect's thread cannot be stopped: the pool is closed; end the process. */
  onStuck: (incident: MemoryIncident) => void;
  /** How long the RSS may take to fall back under the limit (default 300 ms). */
  graceMs?: number;
  /** Past this RSS (MiB) the grace ends at once. */
  criticalMb?: number;
  /** Sampling period in ms. */
  intervalMs?: number;
  /** RSS source in bytes (tests). */
  rssBytes?: () => number;
}
