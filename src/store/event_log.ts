import { dirname } from "node:path";
import { OrchestratorError } from "../lib/errors.ts";

/** Thrown when an append-only log cannot be written. */
export class LogWriteError extends OrchestratorError {
  /** The file that could not be written. */
  readonly file: string;
  /**
   * @param file The log file.
   * @param cause The underlying error.
   */
  constructor(file: string, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(`Cannot write log "${file}": ${why}`, {
      code: "log_write_failed",
      exitCode: 4,
      hint: "Check that the directory exists, is writable and the disk is not full",
      cause,
    });
    this.name = "LogWriteError";
    this.file = file;
  }
}

/** Largest single write; a batch larger than this is split at line boundaries. */
const MAX_WRITE = 512 * 1024;

const encoder = new TextEncoder();

/**
 * Append-only JSONL writer. Lines appended in the same turn of the event loop (up to the
 * next microtask checkpoint) are written together with one synchronous `write` on an
 * `O_APPEND` handle, so lines of concurrent processes never tear or interleave (local
 * file systems; see deno-facts §5). A batch larger than 512 KiB is split at line
 * boundaries.
 *
 * Writes are synchronous on purpose: one `writeSync` of a batch costs a few
 * microseconds, while an async write goes through Deno's blocking thread pool, which
 * on a 2-core machine competes with the pool's workers (measured in bench/).
 *
 * Concurrency: `append` never blocks; call `flush()` or `close()` to make sure every
 * line reached the file.
 */
export class EventLog {
  readonly path: string;
  #pending: string[] = [];
  #scheduled = false;
  #file: Deno.FsFile | null = null;
  #error: LogWriteError | null = null;
  readonly #onError?: (err: LogWriteError) => void;

  /**
   * @param path The JSONL file; parent directories are created on first write.
   * @param options `onError`: called once, on the first failed write (disk full, file
   *   removed...), so the caller can stop work whose facts can no longer be recorded.
   */
  constructor(path: string, options: { onError?: (err: LogWriteError) => void } = {}) {
    this.path = path;
    this.#onError = options.onError;
  }

  /**
   * Queues objects to be written as JSON lines.
   * @param records The objects, in order.
   */
  append(...records: object[]): void {
    for (const r of records) this.#pending.push(JSON.stringify(r));
    this.#schedule();
  }

  /**
   * Queues one line that is already a JSON object's text (without the newline).
   * @param line The JSON text; must not contain a newline.
   */
  appendLine(line: string): void {
    this.#pending.push(line);
    this.#schedule();
  }

  #schedule(): void {
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.#drain());
    }
  }

  /**
   * Opens (and creates) the file now, so an unwritable path fails before any work starts.
   * @throws {LogWriteError} When the file cannot be opened for appending.
   */
  async open(): Promise<void> {
    if (this.#file) return;
    try {
      await Deno.mkdir(dirname(this.path), { recursive: true });
      this.#file ??= await Deno.open(this.path, { append: true, create: true, read: true });
      completeLastLine(this.#file);
    } catch (err) {
      throw new LogWriteError(this.path, err);
    }
  }

  /**
   * Writes every queued line now.
   * @throws {LogWriteError} When a write failed.
   */
  flush(): Promise<void> {
    this.#drain();
    return this.#error ? Promise.reject(this.#error) : Promise.resolve();
  }

  /**
   * Flushes and closes the file.
   * @throws {LogWriteError} When a write failed.
   */
  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      this.#file?.close();
      this.#file = null;
    }
  }

  #drain(): void {
    this.#scheduled = false;
    if (this.#pending.length === 0 || this.#error) return;
    const lines = this.#pending;
    this.#pending = [];
    try {
      this.#write(lines);
    } catch (err) {
      this.#error = err instanceof LogWriteError ? err : new LogWriteError(this.path, err);
      this.#onError?.(this.#error);
    }
  }

  #openSync(): Deno.FsFile {
    if (this.#file) return this.#file;
    Deno.mkdirSync(dirname(this.path), { recursive: true });
    this.#file = Deno.openSync(this.path, { append: true, create: true, read: true });
    completeLastLine(this.#file);
    return this.#file;
  }

  #write(lines: string[]): void {
    const file = this.#openSync();
    let from = 0;
    let size = 0;
    for (let i = 0; i < lines.length; i++) {
      const len = lines[i].length + 1;
      if (size > 0 && size + len > MAX_WRITE) {
        writeAll(file, encoder.encode(lines.slice(from, i).join("\n") + "\n"));
        from = i;
        size = 0;
      }
      size += len;
    }
    writeAll(file, encoder.encode(lines.slice(from).join("\n") + "\n"));
  }
}

function writeAll(file: Deno.FsFile, buf: Uint8Array): void {
  let off = 0;
  while (off < buf.length) off += file.writeSync(buf.subarray(off));
}

/**
 * A writer killed mid-line (or a hand edit) can leave the file without a final newline;
 * the next line would be glued to that fragment and lost with it. End the fragment first.
 * (Two processes doing this at once leave an empty line, which readers skip.)
 */
function completeLastLine(file: Deno.FsFile): void {
  const size = file.seekSync(0, Deno.SeekMode.End);
  if (size === 0) return;
  file.seekSync(-1, Deno.SeekMode.End);
  const last = new Uint8Array(1);
  if (file.readSync(last) === 1 && last[0] !== 0x0a) writeAll(file, encoder.encode("\n"));
}
