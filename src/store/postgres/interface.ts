/**
 * The store surface the engine will use once it is wired to both backends (phase 2).
 * The JSONL {@link StateStore} and {@link PostgresStateStore} both satisfy it (checked
 * by a type-level test). To be moved to `src/store/` when the executor and scheduler
 * take a store by interface.
 * @module
 */
import type { StoredEvent } from "../state_events.ts";
import type { Stamped, StateTransaction } from "../state_store.ts";

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
