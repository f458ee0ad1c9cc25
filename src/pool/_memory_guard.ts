import type { PlainError } from "../lib/errors.ts";
import {
  type MemoryIncident,
  type MemoryLimitOptions,
  type MemorySuspect,
  MemoryWatchdog,
} from "./memory_watchdog.ts";

/** Default time the RSS gets to fall back under the limit after the suspects' threads stop. */
const GRACE_MS = 300;

/** What {@link ThreadMemoryGuard} needs of the pool. */
export interface GuardedPool<T> {
  /** Whether any job is in flight in a thread. */
  busyThreads(): boolean;
  /** The jobs to blame now, with what to report of each. */
  suspects(): { job: T; suspect: MemorySuspect }[];
  /** Fails a job and replaces its worker. */
  fail(job: T, error: PlainError): void;
  /** Cancels every job with `reason` and closes. */
  shutdown(reason: string): void;
}

/**
 * The pool side of the thread memory limit (see {@link MemoryLimitOptions}): watching,
 * then, after an incident, the grace in which the RSS must fall back under the limit.
 * Not re-entrant; runs on the pool's thread only.
 */
export class ThreadMemoryGuard<T> {
  readonly #options: MemoryLimitOptions;
  readonly #pool: GuardedPool<T>;
  readonly #watchdog: MemoryWatchdog;
  readonly #rssBytes: () => number;
  /** The incident in its grace period, and when the grace ends. */
  #open?: { incident: MemoryIncident; until: number };

  /**
   * @param options The limit and the incident callbacks.
   * @param pool The pool's side.
   */
  constructor(options: MemoryLimitOptions, pool: GuardedPool<T>) {
    this.#options = options;
    this.#pool = pool;
    this.#rssBytes = options.rssBytes ?? (() => Deno.memoryUsage().rss);
    this.#watchdog = new MemoryWatchdog({
      limitMb: options.limitMb,
      intervalMs: options.intervalMs,
      rssBytes: this.#rssBytes,
      onOver: (rssMb) => this.#over(rssMb),
      active: () => this.#open ? this.#settleGrace() : this.#pool.busyThreads(),
    });
  }

  /** Starts watching (a job was submitted). */
  start(): void {
    this.#watchdog.start();
  }

  /** Stops watching (the pool closed). */
  stop(): void {
    this.#watchdog.stop();
  }

  /** @returns Whether to stop the watchdog. */
  #over(rssMb: number): boolean {
    if (this.#open) return false;
    const found = this.#pool.suspects();
    if (found.length === 0) return false;
    const incident = {
      rssMb,
      limitMb: this.#options.limitMb,
      suspects: found.map((f) => f.suspect),
    };
    const message = this.#options.onExceeded(incident);
    for (const f of found) this.#pool.fail(f.job, { name: "MemoryLimitError", message });
    this.#open = { incident, until: Date.now() + (this.#options.graceMs ?? GRACE_MS) };
    return false;
  }

  /**
   * During the grace: contained when the RSS is back under the limit; stuck when the grace
   * ran out or the RSS passed the critical mark.
   * @returns Whether the watchdog should go on sampling (during the grace, or while threads
   *   are busy after it).
   */
  #settleGrace(): boolean {
    const open = this.#open!;
    const rssMb = this.#rssBytes() / 2 ** 20;
    if (rssMb <= this.#options.limitMb) {
      this.#open = undefined;
      this.#options.onContained?.(open.incident);
      return this.#pool.busyThreads();
    }
    const critical = this.#options.criticalMb !== undefined && rssMb > this.#options.criticalMb;
    if (!critical && Date.now() < open.until) return true;
    this.#open = undefined;
    this.#pool.shutdown("Cancelled: orch is stopping (memory limit exceeded)");
    this.#options.onStuck(open.incident);
    return false;
  }
}
