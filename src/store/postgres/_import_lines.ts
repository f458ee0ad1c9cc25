import { parseEventLine } from "../event_line.ts";
/** One well-formed line of a JSONL log. */
export interface LogLine {
  /** The parsed object; it has a string `event`. */
  value: Record<string, unknown>;
}

const NEWLINE = 10;

/**
 * Reads a JSONL log forward in chunks, yielding each line that is a JSON object with a
 * string `event`, as the JSONL readers accept them; other lines (torn last line, junk,
 * invalid UTF-8) are skipped and counted in `skipped`. Memory is one chunk plus one line.
 * @param path The file.
 * @param skipped Incremented per skipped line.
 * @param chunkSize Bytes per read (default 1 MiB).
 * @returns The well-formed lines in file order.
 * @throws {Deno.errors.NotFound} When the file does not exist.
 */
export async function* readLogLines(
  path: string,
  skipped: { count: number },
  chunkSize = 1 << 20,
): AsyncGenerator<Record<string, unknown>> {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const file = await Deno.open(path, { read: true });
  try {
    const buf = new Uint8Array(chunkSize);
    let carry = new Uint8Array(0);
    while (true) {
      const n = await file.read(buf);
      if (n === null || n === 0) break;
      let data = buf.subarray(0, n);
      if (carry.length > 0) {
        const joined = new Uint8Array(carry.length + n);
        joined.set(carry);
        joined.set(data, carry.length);
        data = joined;
      }
      let start = 0;
      for (let nl = data.indexOf(NEWLINE); nl >= 0; nl = data.indexOf(NEWLINE, start)) {
        const value = parse(data.subarray(start, nl), decoder);
        if (value) yield value;
        else if (value === null) skipped.count++;
        start = nl + 1;
      }
      carry = data.slice(start);
    }
    // A last line without its newline is a torn write: the JSONL readers skip it too.
    if (carry.some((b) => b !== 32 && b !== 9 && b !== 13)) skipped.count++;
  } finally {
    file.close();
  }
}

/** The object, null for a bad line, undefined for a blank one. */
function parse(
  bytes: Uint8Array,
  decoder: TextDecoder,
): Record<string, unknown> | null | undefined {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return null;
  }
  if (text.trim() === "") return undefined;
  return parseEventLine(text);
}
