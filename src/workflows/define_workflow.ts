import type { JsonObject, Workflow } from "./types.ts";

/**
 * Declares a workflow plugin with full typing. Returns its argument unchanged; a plugin
 * may equally `export default { run() {...} }` without importing anything.
 *
 * @example
 * ```ts
 * import { defineWorkflow } from "./define_workflow.ts";
 *
 * export default defineWorkflow({
 *   description: "Greets someone",
 *   params: (z) => z.object({ name: z.string() }),
 *   run(params, ctx) {
 *     ctx.log(`greeting ${params.name}`);
 *     return { greeting: `Hello, ${params.name}` };
 *   },
 * });
 * ```
 * @param workflow The workflow: `run`, and optional `description` and `params`.
 * @returns The same workflow.
 */
export function defineWorkflow<P extends JsonObject = JsonObject>(
  workflow: Workflow<P>,
): Workflow<P> {
  return workflow;
}
