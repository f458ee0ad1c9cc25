import type { Paths } from "../config/mod.ts";
import { readLines } from "./_read_lines.ts";
import { toSummary } from "./_run_record.ts";
import { RunNotFoundError } from "./errors.ts";
import { type FollowerStats, LogFollower } from "./log_follower.ts";
import { buildRunDetail } from "./run_detail.ts";
import { type IndexChanges, RunIndex } from "./run_index.ts";
import type { RunDetail } from "./types.ts";

/**
 * The dashboard's read model: a {@link RunIndex} fed by two {@link LogFollower}s, one on
 * the events file and one on the state store. A truncated or replaced file clears the
 * index and both files are read again from the start.
 *
 * Concurrency: `refresh` calls are coalesced: a call made while one runs shares it.
 */
export class RunStore {
  readonly index = new RunIndex();
  readonly #paths: Pick<Paths, "eventsPath" | "statePath">;
  readonly #events: LogFollower;
  readonly #state: LogFollower;
  readonly #onChanges: (changes: IndexChanges) => void;
  #inFlight: Promise<void> | null = null;
  #resetSeen = false;

  /**
   * @param paths The events file and the state store.
   * @param options `onChanges` receives what each refresh changed; `chunkSize` for reads.
   */
  constructor(
    paths: Pick<Paths, "eventsPath" | "statePath">,
    options: { onChanges?: (changes: IndexChanges) => void; chunkSize?: number } = {},
  ) {
    this.#paths = paths;
    this.#onChanges = options.onChanges ?? (() => {});
    const index = this.index;
    const reset = () => {
      index.clear();
      this.#resetSeen = true;
    };
    this.#events = new LogFollower(paths.eventsPath, {
      line: (value, offset, length) => index.addRunEvent(value, offset, length),
      reset: () => {
        reset();
        this.#state?.rewind();
      },
    }, options);
    this.#state = new LogFollower(paths.statePath, {
      line: (value) => index.addStateEvent(value),
      reset: () => {
        reset();
        this.#events.rewind();
      },
    }, options);
  }

  /** @returns Counters of both followers. */
  stats(): { events: FollowerStats; state: FollowerStats } {
    return { events: this.#events.stats, state: this.#state.stats };
  }

  /**
   * Reads what was appended to both files and folds it into the index.
   * @returns Resolves when the index is up to date with the files as they were read.
   * @throws {Deno.errors.PermissionDenied} When a file cannot be read.
   */
  refresh(): Promise<void> {
    this.#inFlight ??= this.#refresh().finally(() => {
      this.#inFlight = null;
    });
    return this.#inFlight;
  }

  /** @returns Resolves when no refresh is running. */
  async idle(): Promise<void> {
    while (this.#inFlight) await this.#inFlight.catch(() => {});
  }

  async #refresh(): Promise<void> {
    for (let round = 0; round < 3; round++) {
      this.#resetSeen = false;
      await this.#events.poll();
      await this.#state.poll();
      if (!this.#resetSeen) break;
    }
    const changes = this.index.drainChanges();
    if (changes.reset || changes.overflow || changes.runIds.length > 0) this.#onChanges(changes);
  }

  /**
   * Everything the run page shows, re-read from the run's byte ranges.
   * @param runId The run.
   * @param nowMs Now, for the duration of a running run.
   * @returns The detail.
   * @throws {RunNotFoundError} When neither file mentions the run.
   */
  async detail(runId: string, nowMs: number): Promise<RunDetail> {
    const rec = this.index.get(runId);
    if (!rec) throw new RunNotFoundError(runId);
    const lines = await readLines(this.#paths.eventsPath, rec.ranges.slice());
    return buildRunDetail(toSummary(rec, nowMs), lines, rec.stateEvents);
  }
}
