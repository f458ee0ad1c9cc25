import { parseEventLine } from "./log_follower.ts";

/** Ranges closer than this are read with one read. */
const GAP = 64 * 1024;
/** Largest single coalesced read. */
const MAX_SPAN = 4 * 1024 * 1024;
const decoder = new TextDecoder();

/**
 * Reads and parses lines at known byte ranges of a file, coalescing nearby ranges.
 * Lines that no longer parse (the file changed under us) are left out.
 * @param path The file.
 * @param ranges Flat `[offset, length, offset, length, ...]`, ascending by offset.
 * @returns The parsed lines in range order.
 */
export async function readLines(
  path: string,
  ranges: number[],
): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  if (ranges.length === 0) return out;
  const file = await Deno.open(path, { read: true });
  try {
    let i = 0;
    while (i < ranges.length) {
      const start = ranges[i];
      let end = start + ranges[i + 1];
      let j = i + 2;
      while (
        j < ranges.length && ranges[j] - end < GAP && ranges[j] + ranges[j + 1] - start <= MAX_SPAN
      ) {
        end = ranges[j] + ranges[j + 1];
        j += 2;
      }
      const buf = await readAt(file, start, end - start);
      for (let k = i; k < j; k += 2) {
        const rel = ranges[k] - start;
        const value = parseEventLine(decoder.decode(buf.subarray(rel, rel + ranges[k + 1])));
        if (value) out.push(value);
      }
      i = j;
    }
  } finally {
    file.close();
  }
  return out;
}

async function readAt(file: Deno.FsFile, offset: number, length: number): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  await file.seek(offset, Deno.SeekMode.Start);
  let got = 0;
  while (got < length) {
    const n = await file.read(buf.subarray(got));
    if (n === null || n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}
