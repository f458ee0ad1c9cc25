import { DURATION_BUCKETS, Histogram } from "./_histogram.ts";
import {
  applyRunEvent,
  applyStateEvent,
  newRunRecord,
  type RunRecord,
  toSummary,
} from "./_run_record.ts";
import { SchedulerStats } from "./_scheduler_stats.ts";
import type { RunSummary, RunViewStatus } from "./types.ts";

type Line = Record<string, unknown>;

/** Filters and paging of {@link RunIndex.list}. Empty strings mean "any". */
export interface RunQuery {
  status?: string;
  dag?: string;
  schedule?: string;
  tenant?: string;
  limit?: number;
  offset?: number;
}

/** A small record of one new event, for live updates. */
export interface EventNote {
  run_id: string;
  event: string;
  timestamp?: string;
  task_id?: string;
  attempt?: number;
}

/** What changed since the last {@link RunIndex.drainChanges}. */
export interface IndexChanges {
  /** True when the index was cleared (a log was truncated or replaced). */
  reset: boolean;
  /** True when more changed than is listed (e.g. the first load): reload everything. */
  overflow: boolean;
  runIds: string[];
  events: EventNote[];
}

/** Most changes kept between two drains before reporting an overflow. */
const MAX_CHANGES = 500;

/**
 * The in-memory index of runs, folded from the events file and the state store line by
 * line. It keeps summaries, per-task statuses of unfinished runs, the byte ranges of each
 * run's lines (details are re-read from there), and the counters `/metrics` reports.
 *
 * Concurrency: single-threaded; callers feed lines and read between feeds.
 */
export class RunIndex {
  #runs = new Map<string, RunRecord>();
  #order: RunRecord[] = [];
  #sorted = true;
  /** Task attempts that ended, by status (`success`, `failed`, `skipped`). */
  attempts = { success: 0, failed: 0, skipped: 0 };
  /** Durations of ended attempts by status. */
  durations = { success: new Histogram(DURATION_BUCKETS), failed: new Histogram(DURATION_BUCKETS) };
  scheduler = new SchedulerStats();
  #changed = new Set<string>();
  #events: EventNote[] = [];
  #reset = false;
  #overflow = false;
  #quiet = false;

  /**
   * Runs `fn` without noting changes (old runs loaded for a page are not live news).
   * @param fn Feeds lines.
   */
  quietly(fn: () => void): void {
    this.#quiet = true;
    try {
      fn();
    } finally {
      this.#quiet = false;
    }
  }

  /** Forgets everything (a log was truncated or replaced). */
  clear(): void {
    this.#runs.clear();
    this.#order = [];
    this.#sorted = true;
    this.attempts = { success: 0, failed: 0, skipped: 0 };
    this.durations = {
      success: new Histogram(DURATION_BUCKETS),
      failed: new Histogram(DURATION_BUCKETS),
    };
    this.scheduler = new SchedulerStats();
    this.#changed.clear();
    this.#events = [];
    this.#reset = true;
  }

  /** @returns How many runs are indexed. */
  get size(): number {
    return this.#runs.size;
  }

  /**
   * Folds a line of the events file.
   * @param line The event.
   * @param offset Its byte offset.
   * @param length Its byte length.
   */
  addRunEvent(line: Line, offset: number, length: number): void {
    const runId = line.run_id;
    if (typeof runId !== "string") return;
    const rec = this.#record(runId, line);
    rec.ranges.push(offset, length);
    if (applyRunEvent(rec, line)) this.#sorted = false;
    this.#count(line);
    this.#note(runId, line);
  }

  /**
   * Folds a line of the state store.
   * @param line The state event.
   */
  addStateEvent(line: Line): void {
    this.scheduler.apply(line);
    const runId = line.run_id;
    if (typeof runId !== "string") return;
    if (line.event !== "run_started" && line.event !== "run_finished") return;
    applyStateEvent(this.#record(runId, line), line);
    this.#note(runId, line);
  }

  /**
   * @param runId A run id.
   * @returns The run's record, or undefined.
   */
  get(runId: string): RunRecord | undefined {
    return this.#runs.get(runId);
  }

  /**
   * Lists runs newest first.
   * @param query Filters and paging (limit default 50, at most 500).
   * @param nowMs Now, for durations of running runs.
   * @returns One page and the number of matching runs.
   */
  list(query: RunQuery, nowMs: number): { runs: RunSummary[]; total: number } {
    if (!this.#sorted) {
      this.#order.sort((a, b) => a.startedMs - b.startedMs || (a.runId < b.runId ? -1 : 1));
      this.#sorted = true;
    }
    const limit = Math.min(Math.max(query.limit ?? 50, 0), 500);
    const offset = Math.max(query.offset ?? 0, 0);
    const runs: RunSummary[] = [];
    let total = 0;
    for (let i = this.#order.length - 1; i >= 0; i--) {
      const r = this.#order[i];
      if (query.status && r.status !== query.status) continue;
      if (query.dag && r.dagName !== query.dag) continue;
      if (query.schedule && r.scheduleId !== query.schedule) continue;
      if (query.tenant && r.tenantId !== query.tenant) continue;
      if (total >= offset && runs.length < limit) runs.push(toSummary(r, nowMs));
      total++;
    }
    return { runs, total };
  }

  /**
   * @param rec A record of this index.
   * @param nowMs Now, for the duration of a running run.
   * @returns Its wire form.
   */
  summary(rec: RunRecord, nowMs: number): RunSummary {
    return toSummary(rec, nowMs);
  }

  /** @returns Run counts by status. */
  countByStatus(): Record<RunViewStatus, number> {
    const out = { running: 0, success: 0, failed: 0, cancelled: 0, interrupted: 0 };
    for (const r of this.#order) out[r.status]++;
    return out;
  }

  /** @returns Distinct DAG names, schedule ids and tenants, for the filter menus. */
  facets(): { dags: string[]; schedules: string[]; tenants: string[] } {
    const dags = new Set<string>(), schedules = new Set<string>(), tenants = new Set<string>();
    for (const r of this.#order) {
      dags.add(r.dagName);
      if (r.scheduleId) schedules.add(r.scheduleId);
      tenants.add(r.tenantId);
    }
    const sorted = (s: Set<string>) => [...s].filter((x) => x !== "").sort();
    return { dags: sorted(dags), schedules: sorted(schedules), tenants: sorted(tenants) };
  }

  /** @returns Changes since the last call, and forgets them. */
  drainChanges(): IndexChanges {
    const out = {
      reset: this.#reset,
      overflow: this.#overflow,
      runIds: [...this.#changed],
      events: this.#events,
    };
    this.#changed = new Set();
    this.#events = [];
    this.#reset = false;
    this.#overflow = false;
    return out;
  }

  #record(runId: string, line: Line): RunRecord {
    let rec = this.#runs.get(runId);
    if (!rec) {
      rec = newRunRecord(runId, line);
      this.#runs.set(runId, rec);
      const last = this.#order[this.#order.length - 1];
      if (last && last.startedMs > rec.startedMs) this.#sorted = false;
      this.#order.push(rec);
    }
    return rec;
  }

  #count(line: Line): void {
    const d = typeof line.duration_s === "number" ? line.duration_s : undefined;
    if (line.event === "task_ok") {
      this.attempts.success++;
      if (d !== undefined) this.durations.success.observe(d);
    } else if (line.event === "task_fail") {
      this.attempts.failed++;
      if (d !== undefined) this.durations.failed.observe(d);
    } else if (line.event === "task_skipped") {
      this.attempts.skipped++;
    }
  }

  #note(runId: string, line: Line): void {
    if (this.#overflow || this.#quiet) return;
    if (this.#events.length >= MAX_CHANGES) {
      this.#overflow = true;
      this.#changed.clear();
      this.#events = [];
      return;
    }
    this.#changed.add(runId);
    const note: EventNote = { run_id: runId, event: String(line.event) };
    if (typeof line.timestamp === "string") note.timestamp = line.timestamp;
    if (typeof line.task_id === "string") note.task_id = line.task_id;
    if (typeof line.attempt === "number") note.attempt = line.attempt;
    this.#events.push(note);
  }
}
