import { dirname } from "node:path";
import { loadConfig } from "../config/mod.ts";
import { type Clock, systemClock } from "../lib/clock.ts";
import { LogWriteError } from "./event_log.ts";
import {
  groupNewest,
  newest,
  type OnWarning,
  scanEvents,
  type ScheduleMinuteEvent,
  scheduleMinutesSince,
  warnOnStderr,
} from "./_scan.ts";
import { readWatermarks, watermarksPath, writeWatermarks } from "./_watermarks.ts";
import { LockedAppender } from "./_appender.ts";
import { STATE_SCHEMA_VERSION, type StateEventBase, type StoredEvent } from "./state_events.ts";

/** An event as appended: the caller's fields plus `timestamp` and `v`. */
export type Stamped<E extends { event: string }> = Omit<E, "v" | "timestamp"> & StateEventBase;

/** Options of {@link StateStore}. */
export interface StateStoreOptions {
  /** Source of `timestamp`s (default the system clock). */
  clock?: Clock;
  /** Receives each skipped corrupt line once (default: one line on stderr). */
  onWarning?: OnWarning;
  /** Bytes per backward read (default 64 KiB). */
  chunkSize?: number;
}

/** How far before a window's start {@link StateTransaction.scheduleMinutes} keeps reading. */
const WINDOW_SLACK_MS = 5 * 60_000;
const NEWLINE = 10;
const encoder = new TextEncoder();

/**
 * Reads and writes under the state file's exclusive lock. Obtained from
 * {@link StateStore.transaction}; valid only until the callback returns.
 * Reads see the file as it was before this transaction's appends.
 */
export interface StateTransaction {
  /**
   * Stamps events and queues them; they are written in one write when the callback returns.
   * @param events The events, in order.
   * @returns The stamped events.
   */
  append<T extends readonly { event: string }[]>(...events: T): { [K in keyof T]: Stamped<T[K]> };
  /**
   * @param limit How many events.
   * @returns The newest `limit` events, oldest first.
   */
  lastRuns(limit?: number): Promise<StoredEvent[]>;
  /**
   * @param since Start of the window.
   * @returns The `schedule_enqueued` and `schedule_skipped` events whose `minute_utc` is at or after `since`, oldest first.
   */
  scheduleMinutes(since: Date): Promise<ScheduleMinuteEvent[]>;
  /**
   * Iterates over the events, newest first (stop early to read less).
   * @returns The events as they were before this transaction's appends, newest first.
   */
  scanBackward(): AsyncGenerator<StoredEvent>;
  /** @returns The persisted watermarks (schedule id to the last tick handled). */
  watermarks(): Promise<Map<string, Date>>;
  /**
   * Queues watermarks, written (merged, keeping the later instant) after the appends.
   * @param watermarks Schedule id to the last tick handled.
   */
  setWatermarks(watermarks: ReadonlyMap<string, Date>): void;
}

/**
 * The JSONL state store: scheduler and run events, one JSON object a line.
 *
 * Concurrency: every append holds an exclusive `flock` on the file (released by the
 * kernel if the process dies); reads hold a shared one, so they see whole lines only.
 * Locks are per handle: inside a {@link StateStore.transaction} callback, read through
 * the transaction, never through a store (that would wait for the lock it holds).
 */
export class StateStore {
  /** The state file. */
  readonly path: string;
  #clock: Clock;
  #onWarning: OnWarning;
  #chunkSize?: number;
  #bytesRead = 0;
  #appender: LockedAppender;

  /**
   * @param path The JSONL file; it and its directory are created on the first append.
   * @param options Clock, warning sink and read size.
   */
  constructor(path: string, options: StateStoreOptions = {}) {
    this.path = path;
    this.#clock = options.clock ?? systemClock;
    this.#onWarning = options.onWarning ?? warnOnStderr;
    this.#chunkSize = options.chunkSize;
    this.#appender = new LockedAppender(path);
  }

  /** Bytes this store has read from the state file so far (reads cost O(what is returned)). */
  get bytesRead(): number {
    return this.#bytesRead;
  }

  /**
   * Appends one event with `timestamp` (ISO UTC, ms) and `v`, as one whole line under the
   * exclusive lock. Appends that follow each other without other I/O in between share
   * one lock (see `LockedAppender`): about a microsecond-scale write each.
   * @param event The event; `timestamp` and `v` it carries are replaced.
   * @returns The event as written.
   * @throws {LogWriteError} When the file cannot be written.
   */
  async recordEvent<E extends { event: string }>(event: E): Promise<Stamped<E>> {
    const stamped = this.#stamp(event);
    await this.#appender.append(JSON.stringify(stamped) + "\n");
    return stamped;
  }

  /**
   * @param limit How many events (default 20).
   * @returns The newest `limit` events in file order (oldest first); `[]` without a file.
   */
  lastRuns(limit = 20): Promise<StoredEvent[]> {
    return newest(this.scanBackward(), limit);
  }

  /**
   * Groups the newest `limit` events that have `key` by its value.
   * @param key The field, e.g. `schedule_id`.
   * @param limit How many events having `key` to consider (default 100).
   * @returns Each value of `key` (as a string) to its events in file order.
   */
  indexBy(key: string, limit = 100): Promise<Record<string, StoredEvent[]>> {
    return groupNewest(this.scanBackward(), key, limit);
  }

  /**
   * Iterates over the events, newest first, under a shared lock held until the loop ends.
   * @returns The events, newest first.
   */
  async *scanBackward(): AsyncGenerator<StoredEvent> {
    const file = await this.#openForRead();
    if (!file) return;
    try {
      await file.lock(false);
      const end = (await file.stat()).size;
      yield* scanEvents(file, this.#scanContext(end));
    } finally {
      file.close();
    }
  }

  /** @returns The persisted watermarks (schedule id to the last tick handled). */
  readWatermarks(): Promise<Map<string, Date>> {
    return readWatermarks(watermarksPath(this.path), this.#onWarning);
  }

  /**
   * Runs `fn` holding the exclusive lock: read, decide, then append. The appends are
   * written in one write after `fn` resolves, then the watermarks are saved; if `fn`
   * throws nothing is written. A file left without a final newline by a crash is
   * completed with one first.
   * @param fn The read-decide-append step.
   * @returns What `fn` returns.
   * @throws {LogWriteError} When the file cannot be written.
   */
  async transaction<T>(fn: (tx: StateTransaction) => Promise<T>): Promise<T> {
    let file: Deno.FsFile;
    try {
      await Deno.mkdir(dirname(this.path), { recursive: true });
      file = await Deno.open(this.path, { read: true, append: true, create: true });
    } catch (err) {
      throw new LogWriteError(this.path, err);
    }
    try {
      await file.lock(true);
      const end = (await file.stat()).size;
      const lines: string[] = [];
      let marks: ReadonlyMap<string, Date> | null = null;
      const scan = () => scanEvents(file, this.#scanContext(end));
      const tx: StateTransaction = {
        append: <T extends readonly { event: string }[]>(...events: T) => {
          const stamped = events.map((e) => this.#stamp(e));
          for (const e of stamped) lines.push(JSON.stringify(e) + "\n");
          return stamped as { [K in keyof T]: Stamped<T[K]> };
        },
        lastRuns: (limit = 20) => newest(scan(), limit),
        scheduleMinutes: (since) => scheduleMinutesSince(scan(), since, WINDOW_SLACK_MS),
        scanBackward: scan,
        watermarks: () => this.readWatermarks(),
        setWatermarks: (w) => {
          marks = w;
        },
      };
      const result = await fn(tx);
      await this.#commit(file, end, lines, marks);
      return result;
    } finally {
      file.close();
    }
  }

  async #commit(
    file: Deno.FsFile,
    end: number,
    lines: string[],
    marks: ReadonlyMap<string, Date> | null,
  ): Promise<void> {
    try {
      if (lines.length > 0) {
        const prefix = end > 0 && !(await endsWithNewline(file, end)) ? "\n" : "";
        await writeAll(file, encoder.encode(prefix + lines.join("")));
      }
      if (marks) await writeWatermarks(watermarksPath(this.path), marks, this.#onWarning);
    } catch (err) {
      throw new LogWriteError(this.path, err);
    }
  }

  #stamp<E extends { event: string }>(event: E): Stamped<E> {
    const { v: _v, timestamp: _t, ...rest } = event as E & Partial<StateEventBase>;
    const stamp = { timestamp: this.#clock.now().toISOString(), v: STATE_SCHEMA_VERSION };
    return { ...stamp, ...rest } as unknown as Stamped<E>;
  }

  #scanContext(end: number) {
    return {
      path: this.path,
      end,
      chunkSize: this.#chunkSize,
      onRead: (n: number) => {
        this.#bytesRead += n;
      },
      onWarning: this.#onWarning,
    };
  }

  async #openForRead(): Promise<Deno.FsFile | null> {
    try {
      return await Deno.open(this.path, { read: true });
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return null;
      throw err;
    }
  }
}

async function endsWithNewline(file: Deno.FsFile, end: number): Promise<boolean> {
  const last = new Uint8Array(1);
  await file.seek(end - 1, Deno.SeekMode.Start);
  const n = await file.read(last);
  return n === 1 && last[0] === NEWLINE;
}

async function writeAll(file: Deno.FsFile, buf: Uint8Array): Promise<void> {
  let off = 0;
  while (off < buf.length) off += await file.write(buf.subarray(off));
}

/** Options of the module functions: the store's options plus the file. */
export interface StateStoreCallOptions extends StateStoreOptions {
  /** The state file (default `STATE_STORE_PATH`, else `logs/orchestrator_state.jsonl`). */
  path?: string;
}

function storeFor(options: StateStoreCallOptions): StateStore {
  const path = options.path ?? loadConfig(Deno.env.toObject()).paths.statePath;
  return new StateStore(path, options);
}

/**
 * Appends one event to the state store with `timestamp` and `v`.
 * @param event The event, e.g. `{ event: "run_finished", status: "success" }`.
 * @param options The file (default from the environment), clock and warning sink.
 * @returns The event as written.
 * @throws {LogWriteError} When the file cannot be written.
 * @throws {ConfigError} When the environment is invalid.
 */
export function recordEvent<E extends { event: string }>(
  event: E,
  options: StateStoreCallOptions = {},
): Promise<Stamped<E>> {
  return storeFor(options).recordEvent(event);
}

/**
 * The newest events of the state store.
 * @param limit How many events (default 20).
 * @param options The file (default from the environment) and warning sink.
 * @returns The newest `limit` events in file order (oldest first).
 * @throws {ConfigError} When the environment is invalid.
 */
export function lastRuns(limit = 20, options: StateStoreCallOptions = {}): Promise<StoredEvent[]> {
  return storeFor(options).lastRuns(limit);
}

/**
 * Groups the newest `limit` events that have `key` by the value of `key`.
 * @param key The field, e.g. `schedule_id`.
 * @param limit How many events having `key` to consider (default 100).
 * @param options The file (default from the environment) and warning sink.
 * @returns Each value of `key` (as a string) to its events in file order.
 * @throws {ConfigError} When the environment is invalid.
 */
export function indexBy(
  key: string,
  limit = 100,
  options: StateStoreCallOptions = {},
): Promise<Record<string, StoredEvent[]>> {
  return storeFor(options).indexBy(key, limit);
}
