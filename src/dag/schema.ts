import { z } from "zod";
// Its own file, so the workflow registry can check names without building the schema.
import { NAME_PATTERN } from "./_names.ts";

export { NAME_PATTERN };

/** Keys a task may have, for did-you-mean on unknown keys. */
export const TASK_KEYS = [
  "id",
  "workflow_ref",
  "params",
  "retries",
  "retry_delay_s",
  "timeout_s",
  "depends_on",
] as const;

/** Keys a DAG may have. */
export const DAG_KEYS = ["name", "tenant_id", "tasks"] as const;

const name = (what: string) =>
  z.string({ error: `${what} must be a string` }).regex(NAME_PATTERN, {
    error: `${what} must use only letters, digits, "_" and "-" (no paths or URLs)`,
  });

/** Schema of one task as written in YAML (snake_case). */
export const TaskSchema = z.strictObject({
  id: name("id"),
  workflow_ref: name("workflow_ref"),
  params: z.record(z.string(), z.unknown(), { error: "params must be a map" }).default({}),
  retries: z.int({ error: "retries must be a whole number" }).min(0, {
    error: "retries must be >= 0",
  }).max(100, { error: "retries must be <= 100" }).default(0),
  retry_delay_s: z.number({ error: "retry_delay_s must be a number" }).min(0, {
    error: "retry_delay_s must be >= 0",
  }).max(86_400, { error: "retry_delay_s must be <= 86400" }).default(1),
  timeout_s: z.number({ error: "timeout_s must be a number" }).positive({
    error: "timeout_s must be > 0",
  }).max(2_000_000, { error: "timeout_s must be <= 2000000" }).optional(),
  depends_on: z.array(z.string({ error: "depends_on entries must be task ids" }), {
    error: "depends_on must be a list of task ids",
  }).default([]),
}, { error: "each task must be a map with id and workflow_ref" });

/** Schema of a DAG file as written in YAML. */
export const DagSchema = z.strictObject({
  name: z.string({ error: "name is required and must be a string" }).min(1, {
    error: "name must not be empty",
  }),
  tenant_id: z.string({ error: "tenant_id must be a string" }).min(1).default("default"),
  tasks: z.array(TaskSchema, { error: "tasks is required and must be a list" }).min(1, {
    error: "tasks must not be empty",
  }),
}, { error: "a DAG file must be a map with name and tasks" });

/** A DAG file after schema parsing, before cross-task checks. */
export type DagInput = z.output<typeof DagSchema>;
