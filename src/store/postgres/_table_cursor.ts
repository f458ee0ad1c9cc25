import type { FollowerStats } from "../../dashboard/mod.ts";

/** A table the dashboard follows by id. */
export type Table = "events" | "state_events";

/** How long an id skipped by the sequence is watched for (its transaction may commit late). */
const GAP_TTL_MS = 60_000;
/** Most skipped ids watched at once (more are not watched). */
const MAX_GAPS = 10_000;
/** Of one jump in ids, only this many ids below the new one are watched. */
const MAX_JUMP = 1000;

/**
 * Follows one table by `id`. Ids come from a sequence when rows are inserted, but
 * transactions commit in any order, so a row with a smaller id can become visible after
 * a larger one was read. Every id skipped over is therefore watched for
 * {@link GAP_TTL_MS} (a rolled-back insert leaves a permanent hole; it expires).
 */
export class TableCursor {
  readonly table: Table;
  last = 0;
  #gaps = new Map<number, number>();
  stats = { lines: 0, corrupt: 0, resets: 0 };

  constructor(table: Table) {
    this.table = table;
  }

  get gapCount(): number {
    return this.#gaps.size;
  }

  /**
   * Starts (again) after `id`: rows up to it are not followed.
   * @param id The last id not to read (0: read everything).
   */
  rewind(id = 0): void {
    this.last = id;
    this.#gaps.clear();
    this.stats.lines = 0;
    this.stats.corrupt = 0;
  }

  /** Ids to look for again, after dropping the expired ones. */
  watched(nowMs: number): number[] {
    for (const [id, since] of this.#gaps) if (nowMs - since > GAP_TTL_MS) this.#gaps.delete(id);
    return [...this.#gaps.keys()];
  }

  /** Notes a row read by id; returns false when it was already seen. */
  see(id: number, nowMs: number): boolean {
    if (id <= this.last) return this.#gaps.delete(id);
    const from = Math.max(this.last + 1, id - MAX_JUMP);
    for (let missing = from; missing < id && this.#gaps.size < MAX_GAPS; missing++) {
      this.#gaps.set(missing, nowMs);
    }
    this.last = id;
    return true;
  }
}

/**
 * @param body A row's body.
 * @returns Whether it is an event (an object with a string `event`).
 */
export function isEvent(body: unknown): body is Record<string, unknown> {
  return !!body && typeof body === "object" && !Array.isArray(body) &&
    typeof (body as Record<string, unknown>).event === "string";
}

/**
 * @param cursor A table's cursor.
 * @returns Its counters as the dashboard reports them (`offset`: the last id read).
 */
export function statsOf(cursor: TableCursor): FollowerStats {
  return { ...cursor.stats, offset: cursor.last, pendingBytes: cursor.gapCount };
}
