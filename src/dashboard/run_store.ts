import { toSummary } from "./_run_record.ts";
import { RunNotFoundError } from "./errors.ts";
import { buildRunDetail } from "./run_detail.ts";
import { type IndexChanges, RunIndex } from "./run_index.ts";
import type { RunSink, RunSource, SourceStats } from "./run_source.ts";
import type { RunDetail } from "./types.ts";

/**
 * The dashboard's read model: a {@link RunIndex} fed by a {@link RunSource} (the JSONL
 * files, or the PostgreSQL store's tables). A reset of the source clears the index.
 *
 * Concurrency: `refresh` calls are coalesced: a call made while one runs shares it.
 */
export class RunStore {
  readonly index = new RunIndex();
  /** Where the runs come from. */
  readonly source: RunSource;
  readonly #sink: RunSink;
  readonly #onChanges: (changes: IndexChanges) => void;
  #inFlight: Promise<void> | null = null;

  /**
   * @param source The logs to follow.
   * @param options `onChanges` receives what each refresh changed.
   */
  constructor(
    source: RunSource,
    options: { onChanges?: (changes: IndexChanges) => void } = {},
  ) {
    this.source = source;
    this.#onChanges = options.onChanges ?? (() => {});
    const index = this.index;
    this.#sink = {
      runEvent: (value, offset, length) => index.addRunEvent(value, offset, length),
      stateEvent: (value) => index.addStateEvent(value),
      reset: () => index.clear(),
    };
  }

  /** @returns Counters of both logs. */
  stats(): SourceStats {
    return this.source.stats();
  }

  /**
   * Reads what was written to both logs and folds it into the index.
   * @returns Resolves when the index is up to date with the logs as they were read.
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
    await this.source.poll(this.#sink);
    const changes = this.index.drainChanges();
    if (changes.reset || changes.overflow || changes.runIds.length > 0) this.#onChanges(changes);
  }

  /**
   * Everything the run page shows, re-read from where the run's events are.
   * @param runId The run.
   * @param nowMs Now, for the duration of a running run.
   * @returns The detail.
   * @throws {RunNotFoundError} When neither log mentions the run.
   */
  async detail(runId: string, nowMs: number): Promise<RunDetail> {
    const rec = this.index.get(runId);
    if (!rec) throw new RunNotFoundError(runId);
    const lines = await this.source.runEvents(runId, rec.ranges);
    return buildRunDetail(toSummary(rec, nowMs), lines, rec.stateEvents);
  }
}
