/**
 * DAG definitions: types, the zod schema and the YAML loader.
 * @module
 */
export type { Dag, TaskSpec } from "./types.ts";
export { DAG_KEYS, DagSchema, NAME_PATTERN, TASK_KEYS, TaskSchema } from "./schema.ts";
export { CycleDetectedError, type DagIssue, DagValidationError, formatIssue } from "./errors.ts";
export { loadDag, MAX_DAG_BYTES, parseDag } from "./load.ts";
