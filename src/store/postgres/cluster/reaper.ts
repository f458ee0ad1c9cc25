import { toPlainError } from "../../../lib/errors.ts";
import { reapLostAttempts } from "./complete.ts";
import type { ClusterDb } from "./submit.ts";

/** Options of {@link LostAttemptReaper}. */
export interface LostAttemptReaperOptions {
  /** Bound for attempts claimed without one (`ORCH_WORKER_LOST_MS`). */
  lostMs: number;
  /** Reaps only while this says so (the scheduler leader); default always. */
  isActive?: () => boolean;
  /** Receives one line per reaping that did something, or failed. */
  onNotice?: (line: string) => void;
}

/**
 * Reaps attempts of lost workers (see `reapLostAttempts`) on behalf of a process that
 * is not a worker: the `scheduler --serve` leader every half `lostMs` while it leads,
 * and each `scheduler --once` tick once, so a distributed run whose workers all died
 * ends (retried or failed as `worker_lost`) even when no worker and no submitter is
 * alive.
 *
 * Not fenced by the leader epoch: reaping decides nothing about schedules, any process
 * may do it (workers and submitters do, unfenced), and it is idempotent: an attempt is
 * failed only while it is `running` and silent past its bound, each row by one reaper
 * (`FOR UPDATE SKIP LOCKED`). A stale leader reaping changes nothing a live one would
 * not. Errors are reported, never thrown: the next round tries again.
 */
export class LostAttemptReaper {
  #db: ClusterDb;
  #o: LostAttemptReaperOptions;
  #timer: ReturnType<typeof setInterval> | undefined;
  #round: Promise<number> | null = null;

  /**
   * @param db The cluster database (not ended by the reaper).
   * @param options Bound, gate and notices.
   */
  constructor(db: ClusterDb, options: LostAttemptReaperOptions) {
    this.#db = db;
    this.#o = options;
  }

  /**
   * One round, unless one is in progress (then its result).
   * @returns How many attempts were reaped (0 when inactive or on an error).
   */
  reapOnce(): Promise<number> {
    if (this.#o.isActive && !this.#o.isActive()) return Promise.resolve(0);
    return this.#round ??= reapLostAttempts(this.#db, { lostMs: this.#o.lostMs })
      .then((r) => {
        if (r.reaped > 0) {
          const ended = r.finished.length;
          this.#o.onNotice?.(
            `reaped ${r.reaped} attempt(s) of lost workers (worker_lost)` +
              (ended > 0 ? `; ${ended} run(s) ended` : ""),
          );
        }
        return r.reaped;
      })
      .catch((err) => {
        this.#o.onNotice?.(`reaping lost workers' attempts failed: ${toPlainError(err).message}`);
        return 0;
      })
      .finally(() => this.#round = null);
  }

  /** Reaps every half `lostMs` (at least every 50 ms) until {@link stop}. */
  start(): void {
    this.#timer ??= setInterval(() => this.reapOnce(), Math.max(50, this.#o.lostMs / 2));
  }

  /** Stops the rounds and waits for the one in progress. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#round;
  }
}
