/** One task of a DAG definition. */
export interface TaskSpec {
  /** Unique within the DAG: letters, digits, `_` and `-`. */
  readonly id: string;
  /** Name of the workflow plugin that runs it. */
  readonly workflowRef: string;
  /** The task's own params; upstream outputs are merged in at run time. */
  readonly params: Readonly<Record<string, unknown>>;
  /** Extra attempts after the first failure. */
  readonly retries: number;
  /** First backoff in seconds; doubles with every attempt. */
  readonly retryDelayS: number;
  /** Per-attempt time limit in seconds. */
  readonly timeoutS?: number;
  /** Ids of the tasks that must succeed first. */
  readonly dependsOn: readonly string[];
}

/** A validated DAG: one YAML file. */
export interface Dag {
  /** The DAG's `name`. */
  readonly name: string;
  /** The file stem, or the name when not loaded from a file. */
  readonly dagId: string;
  readonly tenantId: string;
  /** Tasks in file order. */
  readonly tasks: readonly TaskSpec[];
  /** Absolute path of the file it came from, if any. */
  readonly file?: string;
}
