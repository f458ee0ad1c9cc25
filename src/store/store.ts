/**
 * The store interfaces the engine depends on. Two backends implement them: the JSONL
 * files (the embedded default: {@link StateStore}, `EventLog`, run lock files) and
 * PostgreSQL (`src/store/postgres/`). `runDag`, recovery, retry, run listing and the
 * scheduler take these, never a file path, so they do not know which backend they run on.
 * @module
 */
import type { StoredEvent } from "./state_events.ts";
import type { Stamped, StateTransaction } from "./state_store.ts";

/** The state store: scheduler and run events, watermarks and exactly-once decisions. */
export interface StateStoreLike {
  /**
   * Appends one event with `timestamp` and `v`.
   * @param event The event.
   * @returns The event as written.
   */
  recordEvent<E extends { event: string }>(event: E): Promise<Stamped<E>>;
  /**
   * @param limit How many events (default 20).
   * @returns The newest `limit` events, oldest first.
   */
  lastRuns(limit?: number): Promise<StoredEvent[]>;
  /**
   * @param key The field, e.g. `schedule_id`.
   * @param limit How many events having `key` to consider (default 100).
   * @returns Each value of `key` to its events, oldest first.
   */
  indexBy(key: string, limit?: number): Promise<Record<string, StoredEvent[]>>;
  /** @returns The events, newest first; stop early to read less. */
  scanBackward(): AsyncGenerator<StoredEvent>;
  /** @returns Schedule id to the last tick handled. */
  readWatermarks(): Promise<Map<string, Date>>;
  /**
   * Read, decide, then append, exclusive of every other transaction on the same store;
   * nothing is written when `fn` throws.
   * @param fn The read-decide-append step.
   * @returns What `fn` returns.
   */
  transaction<T>(fn: (tx: StateTransaction) => Promise<T>): Promise<T>;
}

/** The task-level event log: batched appends, flushed in order (an executor `EventSink`). */
export interface EventLogLike {
  /** Queues records; never blocks. */
  append(...records: object[]): void;
  /** Checks that the log can be written, before any work starts. */
  open(): Promise<void>;
  /** Resolves when every queued record is stored; rejects after a failed write. */
  flush(): Promise<void>;
  /** Flushes and releases the log's own resources. */
  close(): Promise<void>;
}

/** Reads the task-level events back (retry's outputs, recovery's task counts). */
export interface TaskEventReader {
  /**
   * One run's task-level events, newest first. Callers stop at the run's `dag_start`;
   * the JSONL reader walks the file backwards, PostgreSQL reads the run's rows by index.
   * @param runId The run.
   * @returns Its events, newest first (other runs' events may be interleaved in JSONL).
   */
  scanRun(runId: string): AsyncGenerator<StoredEvent>;
}

/** A run marked alive; released when the run ends. */
export interface RunLock {
  /** What marks it (a lock file, or `postgres:runs/<run_id>`), for messages. */
  readonly path: string;
  /** Stops marking the run alive. Idempotent. */
  release(): void;
}

/** What liveness knows about an unfinished run. */
export interface LivenessSubject {
  runId: string;
  /** False while only `schedule_enqueued` was recorded. */
  started: boolean;
  pid: number;
  host: string;
  /** When the newest of its events was recorded. */
  since: Date;
}

/** How a run proves it is alive, and how recovery decides it is dead. */
export interface RunLiveness {
  /**
   * Marks the run alive until `release()`: a held `flock` (JSONL) or a heartbeat row
   * refreshed every few seconds (PostgreSQL).
   * @param runId The run.
   * @returns The held mark.
   */
  acquire(runId: string): Promise<RunLock>;
  /**
   * @param run The unfinished run.
   * @param probe This host, `now`, and the process check.
   * @returns Why it is dead, or `null` when it may be alive.
   */
  isDead(run: LivenessSubject, probe: LivenessCheck): Promise<string | null>;
  /**
   * Removes the mark of a run recorded dead. Missing marks are fine.
   * @param runId The run.
   */
  forget(runId: string): Promise<void>;
  /**
   * Removes marks that belong to no unfinished run and that nobody holds.
   * @param options `now` and the run ids to keep.
   */
  sweep(options: { now: Date; keep: ReadonlySet<string> }): Promise<void>;
}

/** Seams of {@link RunLiveness.isDead}. */
export interface LivenessCheck {
  /** This machine's host name. */
  host: string;
  /** The instant of the check. */
  now: Date;
  /** Whether process `pid` (of this host), known alive at `since`, may still run. */
  processMayBeAlive: (pid: number, since: Date) => boolean;
}

/** One backend: everything a command needs from storage. */
export interface Store {
  /** `jsonl` or `postgres`. */
  readonly kind: "jsonl" | "postgres";
  /** Where it lives, for messages (never a password). */
  readonly description: string;
  /** Scheduler and run events, watermarks. */
  readonly state: StateStoreLike;
  /** Reads task-level events back. */
  readonly taskEvents: TaskEventReader;
  /** Run liveness for crash recovery. */
  readonly liveness: RunLiveness;
  /**
   * A writer to the task-level log; the caller closes it (the client stays open).
   * @param options `onError`: called once when a write fails.
   * @returns The writer.
   */
  openEventLog(options?: { onError?: (err: Error) => void }): EventLogLike;
  /** Releases connections (an open PostgreSQL pool keeps the process alive). */
  close(): Promise<void>;
}
