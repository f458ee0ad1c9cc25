/** One line found by {@link readLinesBackward}. */
export interface TailLine {
  /** The line's text, without its newline. */
  text: string;
  /** Byte offset of the line's first byte in the file. */
  offset: number;
  /** False for a last line that has no newline (a torn write). */
  complete: boolean;
  /** False when the bytes are not valid UTF-8 (`text` then holds U+FFFD for them). */
  utf8: boolean;
}

/** Default read size; lines longer than a chunk are joined across reads. */
export const DEFAULT_CHUNK_SIZE = 64 * 1024;

const NEWLINE = 10;
const decoder = new TextDecoder();
const strict = new TextDecoder("utf-8", { fatal: true });

/**
 * Reads the lines of `file[0, end)` from the last to the first, one chunk at a time,
 * so the cost is proportional to the lines consumed, not to the file size. Empty
 * lines are not yielded. Stop early by breaking out of the loop.
 *
 * @param file An open handle; its cursor is moved.
 * @param options `end`: bytes of the file to consider; `chunkSize`; `onRead(bytes)` after each read.
 * @returns The lines, newest first.
 */
export async function* readLinesBackward(
  file: Deno.FsFile,
  options: { end: number; chunkSize?: number; onRead?: (bytes: number) => void },
): AsyncGenerator<TailLine> {
  const { end } = options;
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  let pos = end;
  let lineEnd = end;
  let pieces: Uint8Array[] = [];
  while (pos > 0) {
    const start = Math.max(0, pos - chunkSize);
    const buf = await readAt(file, start, pos - start);
    options.onRead?.(buf.length);
    let segEnd = buf.length;
    for (let i = buf.length - 1; i >= 0; i--) {
      if (buf[i] !== NEWLINE) continue;
      const line = toLine(start + i + 1, [buf.subarray(i + 1, segEnd), ...pieces], lineEnd < end);
      if (line) yield line;
      pieces = [];
      segEnd = i;
      lineEnd = start + i;
    }
    if (segEnd > 0) pieces.unshift(buf.subarray(0, segEnd));
    pos = start;
  }
  const first = toLine(0, pieces, lineEnd < end);
  if (first) yield first;
}

function toLine(offset: number, pieces: Uint8Array[], complete: boolean): TailLine | null {
  let length = 0;
  for (const p of pieces) length += p.length;
  if (length === 0) return null;
  const bytes = new Uint8Array(length);
  let at = 0;
  for (const p of pieces) {
    bytes.set(p, at);
    at += p.length;
  }
  try {
    return { text: strict.decode(bytes), offset, complete, utf8: true };
  } catch {
    return { text: decoder.decode(bytes), offset, complete, utf8: false };
  }
}

async function readAt(file: Deno.FsFile, start: number, length: number): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  await file.seek(start, Deno.SeekMode.Start);
  let off = 0;
  while (off < length) {
    const n = await file.read(buf.subarray(off));
    if (n === null) break;
    off += n;
  }
  return buf.subarray(0, off);
}
