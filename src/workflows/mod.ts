/**
 * The workflow plugin API and the registry of available workflows.
 * @module
 */
export type { JsonObject, ParamsSchema, TaskContext, Workflow } from "./types.ts";
export { defineWorkflow } from "./define_workflow.ts";
export { WorkflowRegistry, type WorkflowSource } from "./registry.ts";
export {
  ParamsInvalidError,
  RunnerError,
  UnknownWorkflowError,
  WorkflowLoadError,
} from "./errors.ts";
export { BUILTIN_WORKFLOWS } from "./builtin.gen.ts";
