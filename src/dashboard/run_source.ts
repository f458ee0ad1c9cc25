import type { FollowerStats } from "./log_follower.ts";
import type { MetricValues } from "./metrics.ts";
import type { RunQuery } from "./run_index.ts";

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

  // Paged sources (PostgreSQL) hand over only the newest runs at first; the dashboard
  // asks for older ones when a page needs them. A source without these has everything.

  /**
   * Hands over the events of up to `runs` more runs, the next older ones.
   * @param sink Receives their events.
   * @param runs How many runs.
   * @returns False when no older run is left.
   */
  loadOlder?(sink: RunSink, runs: number): Promise<boolean>;
  /**
   * Hands over one run's events when it was not handed over yet (e.g. an old run's page).
   * @param sink Receives its events.
   * @param runId The run.
   * @returns True when the run was found.
   */
  loadRun?(sink: RunSink, runId: string): Promise<boolean>;
  /**
   * @param query Filters (limit and offset ignored).
   * @returns How many runs not handed over yet match them.
   */
  countUnloaded?(query: RunQuery): Promise<number>;
  /** @returns The filter menus' values over every run, loaded or not. */
  facets?(): Promise<{ dags: string[]; schedules: string[]; tenants: string[] }>;
  /**
   * What `/metrics` reports, counted over the whole store (a paged source's index holds
   * only some runs), with the same meaning as the index's counts.
   * @returns The values.
   */
  metrics?(): Promise<MetricValues>;
  /**
   * Calls `onWake` whenever something may have been written (and when listening
   * (re)starts), so live clients need not wait for the next poll.
   * @param onWake Called on each wake-up.
   * @returns Stops watching.
   */
  watch?(onWake: () => void): Promise<() => Promise<void>>;
}
