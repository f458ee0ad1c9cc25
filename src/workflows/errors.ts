import { OrchestratorError } from "../lib/errors.ts";

/**
 * Thrown by the runner for failures the seed calls `RunnerError`: an unknown workflow,
 * or a task that failed after all its attempts.
 */
export class RunnerError extends OrchestratorError {
  /**
   * @param message What failed.
   * @param options code, exit code and hint.
   */
  constructor(message: string, options: { code: string; exitCode: number; hint?: string }) {
    super(message, options);
    this.name = "RunnerError";
  }
}

/** A `workflow_ref` that names no plugin. The message is the seed's `Unknown workflow: x`. */
export class UnknownWorkflowError extends RunnerError {
  readonly workflowRef: string;
  readonly suggestions: readonly string[];
  readonly available: readonly string[];
  /**
   * @param ref The unknown name.
   * @param available Every known name.
   * @param suggestions The closest known names.
   */
  constructor(ref: string, available: readonly string[], suggestions: readonly string[]) {
    const dym = suggestions.length ? ` (did you mean "${suggestions[0]}"?)` : "";
    super(`Unknown workflow: ${ref}${dym}`, {
      code: "workflow_unknown",
      exitCode: 2,
      hint: `Available workflows: ${available.join(", ") || "none"}. ` +
        `Add <name>.ts or <name>.js to the workflows directory (WORKFLOWS_DIR)`,
    });
    this.workflowRef = ref;
    this.available = available;
    this.suggestions = suggestions;
  }
}

/** A task's params do not satisfy its workflow's `params` schema. */
export class ParamsInvalidError extends OrchestratorError {
  readonly problems: readonly { taskId: string; message: string }[];
  /**
   * @param dagName The DAG's name.
   * @param problems One entry per problem.
   */
  constructor(dagName: string, problems: readonly { taskId: string; message: string }[]) {
    const lines = problems.map((p) => `  task "${p.taskId}": ${p.message}`);
    const n = problems.length;
    super(
      `Invalid params in DAG "${dagName}": ${n} problem${n === 1 ? "" : "s"}\n${lines.join("\n")}`,
      {
        code: "params_invalid",
        exitCode: 2,
      },
    );
    this.name = "ParamsInvalidError";
    this.problems = problems;
  }
}

/** A plugin file that cannot be imported or has no `run`. */
export class WorkflowLoadError extends OrchestratorError {
  readonly workflowRef: string;
  readonly file: string;
  /**
   * @param ref The workflow's name.
   * @param file The plugin file (or `built-in`).
   * @param why What went wrong.
   */
  constructor(ref: string, file: string, why: string) {
    super(`Cannot load workflow "${ref}" from "${file}": ${why}`, {
      code: "workflow_load_failed",
      exitCode: 2,
    });
    this.name = "WorkflowLoadError";
    this.workflowRef = ref;
    this.file = file;
  }
}
