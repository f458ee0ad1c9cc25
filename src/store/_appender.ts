import { dirname } from "node:path";
import { LogWriteError } from "./event_log.ts";

const NEWLINE = 10;
const encoder = new TextEncoder();
/** Longest a lease keeps the lock while appends keep coming (other processes wait). */
const LEASE_MS = 10;
/** Microtask turns without an append after which the lease ends. */
const IDLE_TURNS = 8;
/**
 * After a lease that ran its full {@link LEASE_MS}, how long to wait before locking
 * again, so that a process waiting for the lock gets it (flock hands nothing over: the
 * woken waiter has to win a race against an immediate re-lock, and loses it on a busy
 * virtual machine).
 */
const YIELD_MS = 1;

interface Waiting {
  line: string;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Appends whole lines to a JSONL file under its exclusive `flock`, cheaply when one
 * process appends many lines one at a time (`StateStore.recordEvent`).
 *
 * The first append opens the file (`O_APPEND`) and takes the lock (asynchronously: the
 * event loop never blocks on another process's lock), completes a last line torn by a
 * crash with a newline, and writes every line queued meanwhile in one write. The lock
 * is then leased: appends that follow within the same run of the event loop (up to
 * {@link IDLE_TURNS} microtask turns without one, and at most {@link LEASE_MS}) write
 * their line synchronously under the lock already held, with no re-check needed since
 * no other writer can append. The lease ends (unlock, close) as soon as the caller goes
 * idle or does real I/O, so other processes and this process's transactions and reads
 * wait for at most one burst of appends. Each append's promise resolves once its line is
 * written (to the OS, as every other write of the store: no fsync). A process that dies
 * holding the lease loses the lock with its file descriptors.
 */
export class LockedAppender {
  readonly #path: string;
  #file: Deno.FsFile | null = null;
  #since = 0;
  #used = false;
  #idle = 0;
  #acquiring = false;
  #yieldUntil = 0;
  #queue: Waiting[] = [];

  /** @param path The file; it and its directory are created on the first append. */
  constructor(path: string) {
    this.#path = path;
  }

  /**
   * Appends one line.
   * @param line A whole line, ending with a newline.
   * @returns Resolves once the line is written.
   * @throws {LogWriteError} When the file cannot be opened, locked or written.
   */
  append(line: string): Promise<void> {
    if (this.#file && performance.now() - this.#since > LEASE_MS) this.#expire();
    if (this.#file) {
      try {
        writeAllSync(this.#file, encoder.encode(line));
        this.#used = true;
        return Promise.resolve();
      } catch (err) {
        this.#release();
        return Promise.reject(new LogWriteError(this.#path, err));
      }
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ line, resolve, reject });
      if (this.#acquiring) return;
      const wait = this.#yieldUntil - performance.now();
      if (wait <= 0) return void this.#acquire();
      // Let others in before locking again (see YIELD_MS).
      this.#acquiring = true;
      setTimeout(() => this.#acquire(), wait);
    });
  }

  async #acquire(): Promise<void> {
    this.#acquiring = true;
    let file: Deno.FsFile | null = null;
    try {
      file = openForAppend(this.#path);
      await file.lock(true);
      const end = file.statSync().size;
      const torn = end > 0 && !endsWithNewline(file, end);
      const batch = this.#queue.splice(0);
      writeAllSync(file, encoder.encode((torn ? "\n" : "") + batch.map((w) => w.line).join("")));
      this.#file = file;
      this.#since = performance.now();
      this.#used = false;
      this.#idle = 0;
      queueMicrotask(() => this.#watch());
      for (const w of batch) w.resolve();
    } catch (err) {
      file?.close();
      const error = new LogWriteError(this.#path, err);
      for (const w of this.#queue.splice(0)) w.reject(error);
    } finally {
      this.#acquiring = false;
    }
  }

  /** Ends the lease once appends stop coming or it has lasted long enough. */
  #watch(): void {
    if (!this.#file) return;
    if (this.#used) {
      this.#used = false;
      this.#idle = 0;
    } else this.#idle++;
    if (this.#idle >= IDLE_TURNS) return this.#release();
    if (performance.now() - this.#since > LEASE_MS) return this.#expire();
    queueMicrotask(() => this.#watch());
  }

  /** Ends a lease that lasted {@link LEASE_MS}; the next one waits {@link YIELD_MS}. */
  #expire(): void {
    this.#release();
    this.#yieldUntil = performance.now() + YIELD_MS;
  }

  #release(): void {
    const file = this.#file;
    this.#file = null;
    if (!file) return;
    try {
      file.unlockSync();
    } finally {
      file.close();
    }
  }
}

function openForAppend(path: string): Deno.FsFile {
  const options = { read: true, append: true, create: true };
  try {
    return Deno.openSync(path, options);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
    Deno.mkdirSync(dirname(path), { recursive: true });
    return Deno.openSync(path, options);
  }
}

/**
 * @param file Open for reading.
 * @param end Its size.
 * @returns Whether its last byte is a newline.
 */
function endsWithNewline(file: Deno.FsFile, end: number): boolean {
  const last = new Uint8Array(1);
  file.seekSync(end - 1, Deno.SeekMode.Start);
  return file.readSync(last) === 1 && last[0] === NEWLINE;
}

function writeAllSync(file: Deno.FsFile, buf: Uint8Array): void {
  let off = 0;
  while (off < buf.length) off += file.writeSync(buf.subarray(off));
}
