import type { WorkflowSource } from "../../../workflows/registry.ts";
import type { JsonObject } from "../../../workflows/types.ts";
import type { RunTag } from "./_events.ts";

/** `runs.spec` of a cluster run: what every attempt and the run's end need. */
export interface ClusterRunSpec extends RunTag {
  trigger: string;
  schedule_id?: string;
  retry_of?: string;
  dag_file?: string;
  run_params?: JsonObject;
  /** Longest retry delay in seconds. */
  max_delay_s: number;
}

/** `run_tasks.spec`: one task as the attempts need it. */
export interface ClusterTaskSpec {
  /** The workflow source (runs submitted before migration 4). */
  source?: WorkflowSource;
  /** Its place in the run's `runs.sources` (since migration 4). */
  source_ix?: number;
  workflow_ref: string;
  params: JsonObject;
  retries: number;
  retry_delay_s: number;
  timeout_ms?: number;
}

/** A `runs` row of a cluster run. */
export interface RunRow {
  run_id: string;
  status: string;
  remaining: number;
  spec: ClusterRunSpec;
  /** Seconds since the run started (server clock). */
  age_s: number;
}
