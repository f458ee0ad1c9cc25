import { toPlainError } from "../../../lib/errors.ts";
import type { JobOutcome, TaskPool } from "../../../pool/task_pool.ts";
import { PostgresEventLog } from "../event_log.ts";
import type { ClusterDb } from "./submit.ts";
import { type ClaimedAttempt, claimNext } from "./claim.ts";
import {
  completeAndClaim,
  endOf,
  type FinishedAttempt,
  MAX_OUTPUT_BYTES,
  reapLostAttempts,
} from "./complete.ts";
import { QUEUED_CHANNEL, runEvent } from "./_events.ts";
import { listenChannel } from "../_channels.ts";

/** Attempts shorter than this on average are claimed ahead of free slots. */
const SHORT_MS = 50;
/** Attempts claimed ahead (in all) when they are short: round trips, not tasks, bound them. */
const PREFETCH = 256;
/**
 * How long the first end of short attempts waits for the others still in the pool, so
 * that one transaction records them (group commit); an end is recorded at once when
 * nothing else runs, and ends arriving during a transaction form the next batch.
 */
const GROUP_MS = 4;
/**
 * How long `task_start` / `task_log` events wait for a completing transaction to carry
 * them (saving a round trip and a commit each) before they are inserted on their own.
 */
const EARLY_MS = 20;

/** Options of {@link ClusterWorker}. */
export interface ClusterWorkerOptions {
  /** Who claims, stored in `task_queue.claimed_by` (e.g. `host:pid`). */
  name: string;
  /** A running attempt silent this long is lost (default 10000 ms). */
  lostMs?: number;
  /** Heartbeat interval (default a quarter of `lostMs`). */
  heartbeatMs?: number;
  /** Poll interval when no notification arrives (default 1000 ms). */
  pollMs?: number;
  /** Largest output stored, JSON text in bytes (default {@link MAX_OUTPUT_BYTES}). */
  maxOutputBytes?: number;
  /** Receives one line per problem. */
  onNotice?: (line: string) => void;
}

/**
 * `orch worker`'s loop. Claims ready attempts (as many as the local pool has free
 * slots, one statement, `FOR UPDATE SKIP LOCKED`), runs each in the local
 * {@link TaskPool} as a local run would, and records their ends in batches: one
 * transaction per batch stores outputs and makes dependants ready (see
 * {@link completeAttempts}). `task_start` and `ctx.log()` lines (`task_log`) go to the
 * `events` table with the next completing transaction (before the ends they precede),
 * or on their own after {@link EARLY_MS}.
 *
 * Woken by `NOTIFY orch_task_queued`, with polling as the fallback (and at the next
 * retry's `not_before`), and a re-scan whenever the listen connection (re)connects.
 * Heartbeats its running attempts every `heartbeatMs`; an attempt whose row is no
 * longer `running` because its run was cancelled or ended is aborted (`ctx.signal`).
 * Reaps attempts of lost workers every half `lostMs`.
 */
export class ClusterWorker {
  #db: ClusterDb;
  #pool: TaskPool;
  #o: Required<Omit<ClusterWorkerOptions, "onNotice" | "heartbeatMs">> & ClusterWorkerOptions;
  #log: PostgresEventLog;
  #running = new Map<string, ClaimedAttempt>();
  #ended: FinishedAttempt[] = [];
  /** `task_start` / `task_log` events not yet stored, in order. */
  #early: Record<string, unknown>[] = [];
  #earlyTimer: ReturnType<typeof setTimeout> | undefined;
  #completing: Promise<void> | null = null;
  #grouping: ReturnType<typeof setTimeout> | undefined;
  /** Attempts started in the pool and not ended. */
  #inPool = 0;
  /** Slots promised to claims in flight. */
  #reserved = 0;
  #stop: AbortSignal | null = null;
  #wake: (() => void) | null = null;
  #woken = false;
  #done = 0;
  /** Moving average of attempt durations (starts "long": no prefetch until known). */
  #avgMs = SHORT_MS * 10;

  /**
   * @param db The cluster database (the client is not ended by the worker).
   * @param pool The local pool; its `size` bounds the attempts claimed at once.
   * @param options Name, timings, output limit.
   */
  constructor(db: ClusterDb, pool: TaskPool, options: ClusterWorkerOptions) {
    this.#db = db;
    this.#pool = pool;
    this.#o = { lostMs: 10_000, pollMs: 1000, maxOutputBytes: MAX_OUTPUT_BYTES, ...options };
    this.#log = this.#openLog();
  }

  /** A log stops at its first failed insert: a long-lived worker then starts a new one. */
  #openLog(): PostgresEventLog {
    return new PostgresEventLog(this.#db.sql, {
      onError: (err) => {
        this.#notice(`cannot write task events (some task_start/task_log lost): ${err.message}`);
        this.#log = this.#openLog();
      },
    });
  }

  /** Attempts this worker ran to the end so far. */
  get finished(): number {
    return this.#done;
  }

  /**
   * Claims and runs attempts until `stop` aborts, then waits for the running ones and
   * records their ends.
   * @param stop Ends the loop (SIGINT/SIGTERM).
   */
  async serve(stop: AbortSignal): Promise<void> {
    this.#stop = stop;
    const unlisten = await listenChannel(
      this.#db.sql,
      QUEUED_CHANNEL,
      () => this.#poke(),
      () => this.#poke(),
    );
    const beatMs = this.#o.heartbeatMs ?? Math.max(20, Math.floor(this.#o.lostMs / 4));
    const beat = setInterval(() => this.#heartbeat(), beatMs);
    const reap = setInterval(() => this.#reap(), Math.max(50, this.#o.lostMs / 2));
    const onStop = () => this.#poke();
    stop.addEventListener("abort", onStop);
    try {
      while (!stop.aborted) {
        const free = this.#capacity();
        let claimed: ClaimedAttempt[] = [];
        let dueMs: number | null = null;
        if (free > 0) {
          this.#reserved += free;
          ({ claimed, dueMs } = await claimNext(this.#db.sql, {
            worker: this.#o.name,
            limit: free,
            lostMs: this.#o.lostMs,
          })
            .catch((err) => ({ claimed: this.#fail("claim", err), dueMs: null }))
            .finally(() => this.#reserved -= free));
        }
        for (const c of claimed) this.#start(c);
        if (claimed.length > 0 && claimed.length === free) continue;
        await this.#idle(dueMs);
      }
    } finally {
      stop.removeEventListener("abort", onStop);
      await unlisten();
      while (this.#running.size > 0) await this.#idle(null);
      while (this.#completing) await this.#completing;
      clearInterval(beat);
      clearInterval(reap);
      this.#storeEarly();
      await this.#log.flush().catch(() => {});
    }
  }

  #start(c: ClaimedAttempt): void {
    this.#running.set(c.id, c);
    this.#inPool++;
    const { job, tag } = c;
    this.#pool.run(job, {
      onStart: (at) =>
        this.#emit(runEvent(tag, at, {
          event: "task_start",
          task_id: job.taskId,
          attempt: job.attempt,
          workflow_ref: c.workflowRef,
          params: job.params,
        })),
      onLog: (message, at) =>
        this.#emit(runEvent(tag, at, {
          event: "task_log",
          task_id: job.taskId,
          attempt: job.attempt,
          message,
        })),
    }).then((outcome) => this.#end(c, outcome));
  }

  /** Holds an event for the next completing transaction, at most {@link EARLY_MS}. */
  #emit(event: Record<string, unknown>): void {
    this.#early.push(event);
    this.#earlyTimer ??= setTimeout(() => this.#storeEarly(), EARLY_MS);
  }

  /** Sends the held events to the event log (one insert of their own). */
  #storeEarly(): void {
    clearTimeout(this.#earlyTimer);
    this.#earlyTimer = undefined;
    if (this.#early.length === 0) return;
    this.#log.append(...this.#early);
    this.#early = [];
  }

  #end(c: ClaimedAttempt, outcome: JobOutcome): void {
    this.#inPool--;
    this.#ended.push(endOf(c, outcome));
    if (this.#completing) return; // the next batch, once the transaction in flight ends
    if (this.#inPool === 0 || this.#avgMs >= SHORT_MS) this.#recordEnds();
    else this.#grouping ??= setTimeout(() => this.#recordEnds(), GROUP_MS);
  }

  #recordEnds(): void {
    clearTimeout(this.#grouping);
    this.#grouping = undefined;
    if (!this.#completing && this.#ended.length > 0) this.#completing = this.#complete();
  }

  /** Records ended attempts, one batch per transaction, until none is left. */
  async #complete(): Promise<void> {
    try {
      while (this.#ended.length > 0) {
        const batch = this.#ended;
        this.#ended = [];
        const free = Math.max(0, this.#capacity() + batch.length);
        this.#reserved += free;
        const claimed = await this.#record(batch, free).finally(() => this.#reserved -= free);
        for (const a of batch) {
          this.#running.delete(a.id);
          this.#learn(a.outcome.endedAt - a.outcome.startedAt);
        }
        this.#done += batch.length;
        for (const c of claimed) this.#start(c);
        this.#poke();
      }
    } finally {
      this.#completing = null;
    }
  }

  /**
   * Records a batch of ends and claims up to `free` attempts in the same transaction
   * (unless stopping); while the database is unreachable, tries again (the rows are
   * still heartbeated) for up to `lostMs`, after which others reap them anyway.
   * @returns The attempts claimed.
   */
  async #record(batch: FinishedAttempt[], free: number): Promise<ClaimedAttempt[]> {
    const giveUp = Date.now() + this.#o.lostMs;
    // task_start and logs before the ends: those held go in the same transaction.
    const before = this.#early;
    this.#early = [];
    for (let pause = 100;; pause = Math.min(pause * 2, 2000)) {
      try {
        await this.#log.flush().catch(() => {}); // those already sent on their own
        const { claimed } = await completeAndClaim(this.#db, batch, {
          worker: this.#o.name,
          maxOutputBytes: this.#o.maxOutputBytes,
          claim: this.#stop?.aborted ? 0 : free,
          lostMs: this.#o.lostMs,
          before,
        });
        return claimed;
      } catch (err) {
        if (Date.now() + pause > giveUp) {
          // Left `running`, no longer heartbeated: reaped as worker_lost.
          this.#log.append(...before);
          return this.#fail(`recording ${batch.length} attempt end(s)`, err);
        }
        await new Promise((r) => setTimeout(r, pause));
      }
    }
  }

  /** How many attempts to claim: more than the pool runs at once when they are short. */
  #capacity(): number {
    const size = this.#pool.size;
    const ahead = this.#avgMs < SHORT_MS ? Math.max(size, PREFETCH) : size;
    return ahead - this.#running.size - this.#reserved;
  }

  /** Keeps a moving average of attempt durations. */
  #learn(ms: number): void {
    this.#avgMs = this.#avgMs * 0.9 + Math.max(0, ms) * 0.1;
  }

  #heartbeat(): void {
    if (this.#running.size === 0) return;
    const ids = [...this.#running.keys()];
    this.#db.sql<{ id: string; run_id: string; run_status: string }[]>`
      with beat as (
        update task_queue set heartbeat = now()
        where id = any(${ids}::bigint[]) and state = 'running'
        returning id
      )
      select q.id, q.run_id, r.status as run_status from task_queue q
        join runs r on r.run_id = q.run_id
      where q.id = any(${ids}::bigint[]) and q.id not in (select id from beat)
        and r.status <> 'running'`
      .then((gone) => {
        const runs = new Set(gone.map((g) => g.run_id));
        for (const runId of runs) {
          this.#pool.cancelRun(runId, `Run ${runId} was cancelled or ended`);
        }
      })
      .catch((err) => this.#fail("heartbeat", err));
  }

  #reap(): void {
    reapLostAttempts(this.#db, { lostMs: this.#o.lostMs })
      .then((r) => {
        if (r.reaped > 0) this.#notice(`reaped ${r.reaped} attempt(s) of lost workers`);
      })
      .catch((err) => this.#fail("reaping", err));
  }

  #fail(what: string, err: unknown): ClaimedAttempt[] {
    this.#notice(`${what} failed: ${toPlainError(err).message}`);
    return [];
  }

  /**
   * Waits for a notification, an attempt's end, a stop, the poll interval, or `dueMs`
   * (the next delayed retry's `not_before`, as the empty claim reported it).
   */
  async #idle(dueMs: number | null): Promise<void> {
    if (this.#woken) {
      this.#woken = false;
      return;
    }
    const wait = dueMs === null ? this.#o.pollMs : Math.min(this.#o.pollMs, dueMs + 5);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      timer = setTimeout(resolve, Math.max(0, wait));
    });
    clearTimeout(timer);
    this.#wake = null;
    this.#woken = false;
  }

  #poke(): void {
    if (this.#wake) this.#wake();
    else this.#woken = true;
  }

  #notice(line: string): void {
    this.#o.onNotice?.(line);
  }
}
