import { toSummary } from "./_run_record.ts";
import { RunNotFoundError } from "./errors.ts";
import { buildRunDetail } from "./run_detail.ts";
import { type IndexChanges, RunIndex, type RunQuery } from "./run_index.ts";
import type { RunRecord } from "./_run_record.ts";
import type { RunSink, RunSource, SourceStats } from "./run_source.ts";
import type { RunDetail, RunSummary } from "./types.ts";

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
  /** For older runs loaded on demand: folded without live-change notes. */
  readonly #quietSink: RunSink;
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
    const sink = this.#sink;
    this.#quietSink = {
      runEvent: (value, offset, length) =>
        index.quietly(() => sink.runEvent(value, offset, length)),
      stateEvent: (value) => index.quietly(() => sink.stateEvent(value)),
      reset: () => sink.reset(),
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
   * One page of runs, newest first. A paged source is asked for older runs until the
   * page is full or none is left; `total` adds the matching runs not loaded yet.
   * @param query Filters and paging.
   * @param nowMs Now, for durations of running runs.
   * @returns The page and the number of matching runs.
   */
  async list(query: RunQuery, nowMs: number): Promise<{ runs: RunSummary[]; total: number }> {
    const wanted = Math.max(query.offset ?? 0, 0) + Math.min(Math.max(query.limit ?? 50, 0), 500);
    let page = this.index.list(query, nowMs);
    while (page.total < wanted && this.source.loadOlder) {
      const more = await this.source.loadOlder(
        this.#quietSink,
        Math.max(wanted - page.total, 200),
      );
      page = this.index.list(query, nowMs);
      if (!more) break;
    }
    const unloaded = await this.source.countUnloaded?.(query) ?? 0;
    return { runs: page.runs, total: page.total + unloaded };
  }

  /** @returns The filter menus' values: the index's, plus the source's unloaded runs'. */
  async facets(): Promise<{ dags: string[]; schedules: string[]; tenants: string[] }> {
    const mine = this.index.facets();
    const all = await this.source.facets?.();
    if (!all) return mine;
    const merge = (a: string[], b: string[]) => [...new Set([...a, ...b])].sort();
    return {
      dags: merge(mine.dags, all.dags),
      schedules: merge(mine.schedules, all.schedules),
      tenants: merge(mine.tenants, all.tenants),
    };
  }

  /**
   * Finds a run in the index, refreshing, then asking a paged source for it.
   * @param runId The run.
   * @returns Its record, or undefined when no log has it.
   */
  async find(runId: string): Promise<RunRecord | undefined> {
    if (!this.index.get(runId)) await this.refresh();
    if (!this.index.get(runId) && this.source.loadRun) {
      await this.source.loadRun(this.#quietSink, runId);
    }
    return this.index.get(runId);
  }

  /**
   * Everything the run page shows, re-read from where the run's events are.
   * @param runId The run.
   * @param nowMs Now, for the duration of a running run.
   * @returns The detail.
   * @throws {RunNotFoundError} When neither log mentions the run.
   */
  async detail(runId: string, nowMs: number): Promise<RunDetail> {
    const rec = this.index.get(runId) ?? await this.find(runId);
    if (!rec) throw new RunNotFoundError(runId);
    const lines = await this.source.runEvents(runId, rec.ranges);
    return buildRunDetail(toSummary(rec, nowMs), lines, rec.stateEvents);
  }
}
