/** The DAG check the scheduler injects into `loadSchedules`: load, validate and plan. */
import { DagValidationError, formatIssue, loadDag } from "../../src/dag/mod.ts";
import { OrchestratorError } from "../../src/lib/mod.ts";
import { buildPlan } from "../../src/plan/mod.ts";

/**
 * @param path Absolute path of a DAG file.
 * @returns Its problems, one line each; `[]` when it loads and plans.
 */
export async function validateDag(path: string): Promise<string[]> {
  try {
    buildPlan(await loadDag(path));
    return [];
  } catch (err) {
    if (err instanceof DagValidationError) return err.issues.map((i) => formatIssue(path, i));
    if (err instanceof OrchestratorError) return [err.message];
    throw err;
  }
}
