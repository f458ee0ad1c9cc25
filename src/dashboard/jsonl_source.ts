import type { Paths } from "../config/mod.ts";
import { watermarksPath } from "../store/mod.ts";
import { readLines } from "./_read_lines.ts";
import { LogFollower } from "./log_follower.ts";
import type { RunSink, RunSource, SourceStats } from "./run_source.ts";

/**
 * The dashboard's {@link RunSource} over the JSONL files: one {@link LogFollower} on the
 * events file and one on the state store. When either file is truncated or replaced,
 * the sink is reset and both files are read again from the start. A run's details are
 * re-read from the byte ranges of its lines.
 */
export class JsonlRunSource implements RunSource {
  readonly description: string;
  readonly pollIntervalMs = 250;
  readonly #paths: Pick<Paths, "eventsPath" | "statePath">;
  readonly #events: LogFollower;
  readonly #state: LogFollower;
  #sink: RunSink | null = null;
  #resetSeen = false;

  /**
   * @param paths The events file and the state store.
   * @param options `chunkSize` in bytes for each read.
   */
  constructor(
    paths: Pick<Paths, "eventsPath" | "statePath">,
    options: { chunkSize?: number } = {},
  ) {
    this.#paths = paths;
    this.description = `${paths.eventsPath} and ${paths.statePath}`;
    this.#events = new LogFollower(paths.eventsPath, {
      line: (value, offset, length) => this.#sink!.runEvent(value, offset, length),
      reset: () => {
        this.#reset();
        this.#state.rewind();
      },
    }, options);
    this.#state = new LogFollower(paths.statePath, {
      line: (value) => this.#sink!.stateEvent(value),
      reset: () => {
        this.#reset();
        this.#events.rewind();
      },
    }, options);
  }

  /** @returns Counters of both followers. */
  stats(): SourceStats {
    return { events: this.#events.stats, state: this.#state.stats };
  }

  /**
   * Reads what was appended to both files. After a reset, both are read again (at most
   * three rounds, so a file replaced in a loop cannot keep the caller here).
   * @param sink Receives lines and resets.
   * @throws {Deno.errors.PermissionDenied} When a file cannot be read.
   */
  async poll(sink: RunSink): Promise<void> {
    this.#sink = sink;
    for (let round = 0; round < 3; round++) {
      this.#resetSeen = false;
      await this.#events.poll();
      await this.#state.poll();
      if (!this.#resetSeen) break;
    }
  }

  /**
   * @param _runId The run (its lines are found by their ranges).
   * @param ranges Byte ranges of its lines in the events file.
   * @returns The lines that still parse.
   */
  runEvents(_runId: string, ranges: readonly number[]): Promise<Record<string, unknown>[]> {
    return readLines(this.#paths.eventsPath, ranges.slice());
  }

  /** @returns The watermarks file's mtime: the scheduler rewrites it on every tick. */
  async lastTickMs(): Promise<number | null> {
    const ticked = await Deno.stat(watermarksPath(this.#paths.statePath)).catch(() => null);
    return ticked?.mtime?.getTime() ?? null;
  }

  /** Nothing to release. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  #reset(): void {
    this.#sink?.reset();
    this.#resetSeen = true;
  }
}
