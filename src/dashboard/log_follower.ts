import { parseEventLine } from "../store/event_line.ts";
/** Receives the lines a {@link LogFollower} reads. */
export interface LineSink {
  /**
   * Called once per complete, well-formed line, in file order.
   * @param value The parsed JSON object (it has a string `event`).
   * @param offset Byte offset of the line in the file.
   * @param length Byte length of the line, without its newline.
   */
  line(value: Record<string, unknown>, offset: number, length: number): void;
  /** Called when the file was truncated or replaced; everything read before is void. */
  reset(): void;
}

/** Counters of a {@link LogFollower}. */
export interface FollowerStats {
  /** Bytes consumed, including a partial trailing line held back. */
  offset: number;
  /** Well-formed lines handed to the sink since the last reset. */
  lines: number;
  /** Lines skipped because they were not a JSON object with a string `event`. */
  corrupt: number;
  /** How many times the file was truncated or replaced. */
  resets: number;
  /** Bytes of an incomplete last line waiting for its newline. */
  pendingBytes: number;
}

const NEWLINE = 10;
const decoder = new TextDecoder();

/**
 * Follows a JSONL file that other processes append to, reading only new bytes on each
 * {@link LogFollower.poll}. A trailing line without its newline is held until it is
 * completed. Corrupt lines are skipped and counted. When the file shrinks, is replaced
 * (new inode) or no longer ends a line where the last read stopped, it restarts from
 * the beginning and tells the sink to reset.
 *
 * Concurrency: calls to `poll` are serialised; a call made while one runs waits for it
 * and then polls again.
 */
export class LogFollower {
  readonly path: string;
  #sink: LineSink;
  #chunkSize: number;
  #offset = 0;
  #carry: Uint8Array = new Uint8Array(0);
  #ino: number | null = null;
  #stats = { lines: 0, corrupt: 0, resets: 0 };
  #running: Promise<void> = Promise.resolve();

  /**
   * @param path The JSONL file; it may not exist yet.
   * @param sink Receives lines and resets.
   * @param options `chunkSize` in bytes for each read (default 1 MiB).
   */
  constructor(path: string, sink: LineSink, options: { chunkSize?: number } = {}) {
    this.path = path;
    this.#sink = sink;
    this.#chunkSize = options.chunkSize ?? 1 << 20;
  }

  /** @returns A snapshot of the counters. */
  get stats(): FollowerStats {
    return { ...this.#stats, offset: this.#offset, pendingBytes: this.#carry.length };
  }

  /**
   * Reads whatever was appended since the last call and hands it to the sink.
   * A missing file is treated as empty.
   * @returns Resolves when the new lines were handed over.
   * @throws {Deno.errors.PermissionDenied} When the file cannot be read.
   */
  poll(): Promise<void> {
    const next = this.#running.then(() => this.#poll());
    this.#running = next.catch(() => {});
    return next;
  }

  async #poll(): Promise<void> {
    let stat: Deno.FileInfo;
    try {
      stat = await Deno.stat(this.path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return;
      throw err;
    }
    if ((this.#ino !== null && stat.ino !== this.#ino) || stat.size < this.#offset) {
      this.#restart();
    }
    this.#ino = stat.ino;
    if (stat.size === this.#offset) return;
    const file = await Deno.open(this.path, { read: true });
    try {
      if (!(await this.#stillAligned(file))) this.#restart();
      await file.seek(this.#offset, Deno.SeekMode.Start);
      const buf = new Uint8Array(this.#chunkSize);
      while (true) {
        const n = await file.read(buf);
        if (n === null || n === 0) break;
        this.#consume(buf.subarray(0, n));
      }
    } finally {
      file.close();
    }
  }

  /** True when the byte before the first unread line is a newline (no copy-truncate). */
  async #stillAligned(file: Deno.FsFile): Promise<boolean> {
    const committed = this.#offset - this.#carry.length;
    if (committed === 0) return true;
    await file.seek(committed - 1, Deno.SeekMode.Start);
    const one = new Uint8Array(1);
    const n = await file.read(one);
    return n === 1 && one[0] === NEWLINE;
  }

  /** Forgets the position so the next poll reads the whole file again, without a reset call. */
  rewind(): void {
    this.#offset = 0;
    this.#carry = new Uint8Array(0);
    this.#stats.lines = 0;
    this.#stats.corrupt = 0;
  }

  #restart(): void {
    this.#offset = 0;
    this.#carry = new Uint8Array(0);
    this.#stats.lines = 0;
    this.#stats.corrupt = 0;
    this.#stats.resets++;
    this.#sink.reset();
  }

  #consume(chunk: Uint8Array): void {
    const base = this.#offset - this.#carry.length;
    this.#offset += chunk.length;
    let data = chunk;
    if (this.#carry.length > 0) {
      data = new Uint8Array(this.#carry.length + chunk.length);
      data.set(this.#carry);
      data.set(chunk, this.#carry.length);
    }
    const last = data.lastIndexOf(NEWLINE);
    if (last < 0) {
      this.#carry = data.slice();
      return;
    }
    // A newline byte never occurs inside a multi-byte UTF-8 sequence, so the k-th string
    // line is the k-th byte line: decode once, take the offsets from the bytes.
    const parts = decoder.decode(data.subarray(0, last)).split("\n");
    let pos = 0;
    for (const part of parts) {
      const nl = data.indexOf(NEWLINE, pos);
      this.#handle(part, base + pos, nl - pos);
      pos = nl + 1;
    }
    this.#carry = data.slice(last + 1);
  }

  #handle(text: string, offset: number, length: number): void {
    if (text.trim() === "") return;
    const value = parseEventLine(text);
    if (value === null) {
      this.#stats.corrupt++;
      return;
    }
    this.#stats.lines++;
    this.#sink.line(value, offset, length);
  }
}

export { parseEventLine };
