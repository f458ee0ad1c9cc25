import { StateStore } from "../store/state_store.ts";
import type { StoredEvent } from "../store/state_events.ts";
import type { TaskEventReader } from "../store/store.ts";
import type { OnWarning } from "../store/_scan.ts";
import type { JsonObject } from "../workflows/types.ts";

/** What the task-level event log recorded about one run. */
export interface RunTaskRecord {
  /** Whether the run's `dag_start` was found. */
  found: boolean;
  /** Outputs of the tasks that succeeded (a `task_ok` line each), by task id. */
  outputs: Map<string, JsonObject>;
  succeeded: number;
  /** Tasks whose last attempt failed. */
  failed: number;
  skipped: number;
  /** Whether the run has its `dag_done`. */
  done: boolean;
}

/**
 * Reads the task-level events of one run from the end of the event log backwards,
 * stopping at its `dag_start` (the store's backward reader: torn lines are skipped).
 * Cost is proportional to what was appended since the run started.
 * @param events The task-level event log: a reader, or the JSONL file (`ORCH_EVENTS_PATH`).
 * @param runId The run.
 * @param options Receives skipped corrupt lines (JSONL).
 * @returns Outputs of succeeded tasks and task counts.
 */
export async function readRunTasks(
  events: TaskEventReader | string,
  runId: string,
  options: { onWarning?: OnWarning } = {},
): Promise<RunTaskRecord> {
  const record: RunTaskRecord = {
    found: false,
    outputs: new Map(),
    succeeded: 0,
    failed: 0,
    skipped: 0,
    done: false,
  };
  const decided = new Set<string>();
  const reader = typeof events === "string"
    ? new JsonlTaskEvents(events, { onWarning: options.onWarning })
    : events;
  for await (const e of reader.scanRun(runId)) {
    if (e.run_id !== runId) continue;
    if (e.event === "dag_start") {
      record.found = true;
      break;
    }
    if (e.event === "dag_done") record.done = true;
    const taskId = typeof e.task_id === "string" ? e.task_id : null;
    if (!taskId || decided.has(taskId)) continue;
    if (e.event === "task_ok") {
      decided.add(taskId);
      record.succeeded++;
      record.outputs.set(taskId, (e.output ?? {}) as JsonObject);
    } else if (e.event === "task_fail") {
      decided.add(taskId);
      record.failed++;
    } else if (e.event === "task_skipped") {
      decided.add(taskId);
      record.skipped++;
    }
  }
  return record;
}

/**
 * The JSONL task-level event log read back: the file walked backwards (torn lines
 * skipped and reported once), every run's events interleaved.
 */
export class JsonlTaskEvents implements TaskEventReader {
  #reader: StateStore;

  /**
   * @param path The event log file.
   * @param options Receives skipped corrupt lines.
   */
  constructor(path: string, options: { onWarning?: OnWarning } = {}) {
    this.#reader = new StateStore(path, { onWarning: options.onWarning });
  }

  /**
   * @param _runId The run (the file is not indexed: callers filter).
   * @returns The file's events, newest first.
   */
  scanRun(_runId: string): AsyncGenerator<StoredEvent> {
    return this.#reader.scanBackward();
  }
}
