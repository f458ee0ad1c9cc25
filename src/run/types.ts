import type { RunStatus, TaskStatus, Trigger } from "../store/events.ts";
import type { JsonObject } from "../workflows/types.ts";

/** How one task of a run ended. */
export interface TaskResult {
  id: string;
  workflowRef: string;
  status: TaskStatus;
  /** Attempts made (0 when skipped or reused from an earlier run). */
  attempts: number;
  output?: JsonObject;
  /** The final error message, for failed tasks. */
  error?: string;
  /** Run id the output was reused from (`orch retry`). */
  reusedFrom?: string;
}

/** How a run ended. */
export interface RunResult {
  runId: string;
  dagName: string;
  tenantId: string;
  status: RunStatus;
  trigger: Trigger;
  durationS: number;
  /** In plan order. */
  tasks: TaskResult[];
  succeeded: number;
  failed: number;
  skipped: number;
}

/** Where events go. `EventLog` is one; tests may collect into an array. */
export interface EventSink {
  append(...events: object[]): void;
  /**
   * Optional: queues one event already serialized as a JSON object (no newline). The
   * executor then writes its per-task events as text, embedding the output JSON the
   * worker produced instead of re-stringifying it.
   */
  appendLine?(line: string): void;
}
