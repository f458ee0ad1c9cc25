import { readLinesBackward } from "./_tail.ts";
import type { ScheduleEnqueuedEvent, ScheduleSkippedEvent, StoredEvent } from "./state_events.ts";

/** A line of the state store that was skipped. */
export interface StoreWarning {
  /** The state file. */
  file: string;
  /** Byte offset of the skipped line. */
  offset: number;
  /** One-line, human-readable description. */
  message: string;
}

/** Receives each skipped line once per file and offset. */
export type OnWarning = (warning: StoreWarning) => void;

/** Prints the warning as one line on stderr. */
export function warnOnStderr(warning: StoreWarning): void {
  console.error(`Warning: ${warning.message}`);
}

/** Lines already reported, process-wide, as `file\0offset`: report each once. */
const reported = new Set<string>();
const MAX_REPORTED = 100_000;

/** How {@link scanEvents} reads and reports. */
export interface ScanContext {
  path: string;
  end: number;
  chunkSize?: number;
  onRead?: (bytes: number) => void;
  onWarning: OnWarning;
}

/**
 * Parses the state file backwards, newest first, skipping and reporting torn or corrupt lines.
 * @param file An open handle on the state file, locked by the caller.
 * @param ctx Path, size, chunk size and callbacks.
 * @returns The events, newest first.
 */
export async function* scanEvents(
  file: Deno.FsFile,
  ctx: ScanContext,
): AsyncGenerator<StoredEvent> {
  const lines = readLinesBackward(file, ctx);
  for await (const line of lines) {
    const problem = !line.complete
      ? "no newline at the end (torn write)"
      : line.utf8
      ? null
      : "not valid UTF-8";
    const parsed = problem ? problem : parseEvent(line.text);
    if (typeof parsed !== "string") {
      yield parsed;
      continue;
    }
    const key = `${ctx.path}\0${line.offset}`;
    if (reported.has(key)) continue;
    if (reported.size >= MAX_REPORTED) reported.clear();
    reported.add(key);
    ctx.onWarning({
      file: ctx.path,
      offset: line.offset,
      message: `Skipping corrupt line at byte ${line.offset} of "${ctx.path}": ${parsed}`,
    });
  }
}

function parseEvent(text: string): StoredEvent | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return "not a JSON object";
  }
  const event = value as Record<string, unknown>;
  if (typeof event.event !== "string") return `no "event" name`;
  if (event.v === undefined) event.v = 1;
  return event as StoredEvent;
}

/**
 * The newest `limit` events, oldest first.
 * @param events Events, newest first.
 * @param limit How many to keep.
 * @returns Up to `limit` events in file order.
 */
export async function newest(
  events: AsyncIterable<StoredEvent>,
  limit: number,
): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  if (limit <= 0) return out;
  for await (const e of events) {
    out.push(e);
    if (out.length >= limit) break;
  }
  return out.reverse();
}

/**
 * Groups the newest `limit` events having `key` by the value of `key`.
 * @param events Events, newest first.
 * @param key The field to group by.
 * @param limit How many events with that field to consider.
 * @returns Value of `key` (as a string) to its events, in file order.
 */
export async function groupNewest(
  events: AsyncIterable<StoredEvent>,
  key: string,
  limit: number,
): Promise<Record<string, StoredEvent[]>> {
  const picked: StoredEvent[] = [];
  if (limit > 0) {
    for await (const e of events) {
      if (e[key] === undefined || e[key] === null) continue;
      picked.push(e);
      if (picked.length >= limit) break;
    }
  }
  const groups = new Map<string, StoredEvent[]>();
  for (const e of picked.reverse()) {
    const value = keyText(e[key]);
    const group = groups.get(value);
    if (group) group.push(e);
    else groups.set(value, [e]);
  }
  return Object.fromEntries(groups);
}

/**
 * A field of a parsed line as text. Lines are JSON, so a field can be an object whose
 * `toString` is not a function, on which `String()` throws; such values read as JSON.
 */
function keyText(value: unknown): string {
  return value !== null && typeof value === "object" ? JSON.stringify(value) : String(value);
}

/** A schedule-minute that was decided: enqueued or skipped. */
export type ScheduleMinuteEvent = ScheduleEnqueuedEvent | ScheduleSkippedEvent;

/**
 * The `schedule_enqueued` and `schedule_skipped` events recorded at or after `since`,
 * oldest first. Stops at the first line older than `since - slackMs` (lines are appended
 * in time order; the slack absorbs clock differences between processes).
 * @param events Events, newest first.
 * @param since Start of the window.
 * @param slackMs How far past `since` to keep reading.
 * @returns The decided schedule-minutes in the window.
 */
export async function scheduleMinutesSince(
  events: AsyncIterable<StoredEvent>,
  since: Date,
  slackMs: number,
): Promise<ScheduleMinuteEvent[]> {
  const stopAt = since.getTime() - slackMs;
  const out: ScheduleMinuteEvent[] = [];
  for await (const e of events) {
    const at = Date.parse(keyText(e.timestamp));
    if (Number.isFinite(at) && at < stopAt) break;
    if (e.event !== "schedule_enqueued" && e.event !== "schedule_skipped") continue;
    if (typeof e.schedule_id !== "string" || typeof e.minute_utc !== "string") continue;
    if (Date.parse(e.minute_utc) >= since.getTime()) out.push(e as unknown as ScheduleMinuteEvent);
  }
  return out.reverse();
}
