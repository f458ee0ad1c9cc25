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
 * Append-only JSONL writer. Lines appended in the same turn of the event loop are
 * written together with one `write` on an `O_APPEND` handle, so lines of concurrent
 * processes never tear or interleave (local file systems; see deno-facts §5).
 *
 * Concurrency: one flush runs at a time; `append` never blocks. Call `close()` to
 * wait for every line to reach the file.
 */
export class EventLog {
  readonly path: string;
  #pending: string[] = [];
  #flushing: Promise<void> | null = null;
  #file: Deno.FsFile | null = null;
  #error: LogWriteError | null = null;

  /** @param path The JSONL file; parent directories are created on first write. */
  constructor(path: string) {
    this.path = path;
  }

  /**
   * Queues objects to be written as JSON lines.
   * @param records The objects, in order.
   */
  append(...records: object[]): void {
    for (const r of records) this.#pending.push(JSON.stringify(r) + "\n");
    if (!this.#flushing) this.#flushing = Promise.resolve().then(() => this.#drain());
  }

  /**
   * Opens (and creates) the file now, so an unwritable path fails before any work starts.
   * @throws {LogWriteError} When the file cannot be opened for appending.
   */
  async open(): Promise<void> {
    try {
      await this.#open();
    } catch (err) {
      throw new LogWriteError(this.path, err);
    }
  }

  /**
   * Waits until every queued line is written.
   * @throws {LogWriteError} When a write failed.
   */
  async flush(): Promise<void> {
    while (this.#flushing) await this.#flushing;
    if (this.#error) throw this.#error;
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

  async #drain(): Promise<void> {
    try {
      while (this.#pending.length > 0 && !this.#error) {
        const lines = this.#pending;
        this.#pending = [];
        await this.#write(lines);
      }
    } catch (err) {
      this.#error = err instanceof LogWriteError ? err : new LogWriteError(this.path, err);
      this.#pending = [];
    } finally {
      this.#flushing = null;
    }
  }

  async #open(): Promise<Deno.FsFile> {
    if (this.#file) return this.#file;
    await Deno.mkdir(dirname(this.path), { recursive: true });
    this.#file = await Deno.open(this.path, { append: true, create: true });
    return this.#file;
  }

  async #write(lines: string[]): Promise<void> {
    const file = await this.#open();
    let chunk = "";
    for (const line of lines) {
      if (chunk.length > 0 && chunk.length + line.length > MAX_WRITE) {
        await writeAll(file, encoder.encode(chunk));
        chunk = "";
      }
      chunk += line;
    }
    if (chunk) await writeAll(file, encoder.encode(chunk));
  }
}

async function writeAll(file: Deno.FsFile, buf: Uint8Array): Promise<void> {
  let off = 0;
  while (off < buf.length) off += await file.write(buf.subarray(off));
}
