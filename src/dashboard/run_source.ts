import type { FollowerStats } from "./log_follower.ts";

type Line = Record<string, unknown>;

/** Receives what a {@link RunSource} reads, in each log's order. */
export interface RunSink {
  /**
   * One task-level event (the events log).
   * @param line The event.
   * @param offset Where it is (a byte offset in the file, or a row id).
   * @param length Its byte length in the file (0 for a row).
   */
  runEvent(line: Line, offset: number, length: number): void;
  /**
   * One run or scheduler event (the state store).
   * @param line The event.
   */
  stateEvent(line: Line): void;
  /** Everything handed over before is void (a log was truncated or replaced). */
  reset(): void;
}

/** Counters of the two logs, as `/api/info` and `/metrics` report them. */
export interface SourceStats {
  events: FollowerStats;
  state: FollowerStats;
}

/**
 * Where the dashboard reads runs from: the two JSONL files ({@link JsonlRunSource}) or
 * the PostgreSQL store's tables (`PostgresRunSource` in `src/store/postgres`). Reads are
 * incremental: each `poll` hands over only what was written since the previous one.
 *
 * Concurrency: the dashboard never runs two `poll` calls at once.
 */
export interface RunSource {
  /** What it reads, for messages (no password). */
  readonly description: string;
  /**
   * Hands what was written since the last poll to `sink`.
   * @param sink Receives events and resets.
   */
  poll(sink: RunSink): Promise<void>;
  /**
   * A run's task events, oldest first, re-read from where `poll` saw them.
   * @param runId The run.
   * @param ranges The `[offset, length, ...]` the sink was given for the run's events.
   * @returns The events.
   */
  runEvents(runId: string, ranges: readonly number[]): Promise<Line[]>;
  /** @returns Counters of both logs. */
  stats(): SourceStats;
  /** @returns When the scheduler last ticked (ms since the epoch), when the store knows. */
  lastTickMs(): Promise<number | null>;
  /** How often to poll while a live client is connected (ms), unless the caller says. */
  readonly pollIntervalMs: number;
  /** Releases connections; the source is not used afterwards. */
  close(): Promise<void>;
}
