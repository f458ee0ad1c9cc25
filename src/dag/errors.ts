import { OrchestratorError } from "../lib/errors.ts";

/** One problem found in a DAG file. */
export interface DagIssue {
  /** Dotted path in the document, e.g. `tasks[1].depends_on[0]`. */
  readonly path: string;
  readonly message: string;
  readonly line?: number;
  readonly column?: number;
  /** Id of the task the problem is in, when known. */
  readonly taskId?: string;
}

/** Formats an issue as `file:line:col: task "x": message`. */
export function formatIssue(file: string, issue: DagIssue): string {
  const where = issue.line ? `${file}:${issue.line}:${issue.column ?? 1}` : file;
  const task = issue.taskId ? `task "${issue.taskId}": ` : "";
  const path = issue.path && !issue.taskId ? `${issue.path}: ` : "";
  return `${where}: ${task}${path}${issue.message}`;
}

/** Most issues listed in a message; all of them stay in `issues`. */
const MAX_LISTED = 50;

/** Thrown when a DAG file is unreadable or invalid; lists every problem found. */
export class DagValidationError extends OrchestratorError {
  readonly file: string;
  readonly issues: readonly DagIssue[];
  /**
   * @param file The file as the user named it.
   * @param issues Every problem, in document order.
   */
  constructor(file: string, issues: readonly DagIssue[]) {
    const n = issues.length;
    const lines = issues.slice(0, MAX_LISTED).map((i) => "  " + formatIssue(file, i));
    if (n > MAX_LISTED) lines.push(`  ... and ${n - MAX_LISTED} more`);
    super(
      `Invalid DAG "${file}": ${n} problem${n === 1 ? "" : "s"}\n${lines.join("\n")}`,
      { code: "dag_invalid", exitCode: 2 },
    );
    this.name = "DagValidationError";
    this.file = file;
    this.issues = issues;
  }
}

/** Thrown when `depends_on` edges form a cycle; the message names the path. */
export class CycleDetectedError extends OrchestratorError {
  readonly dagName: string;
  /** The cycle, first node repeated at the end: `["a", "b", "a"]`. */
  readonly cycle: readonly string[];
  /**
   * @param dagName The DAG's name.
   * @param cycle The cycle path.
   */
  constructor(dagName: string, cycle: readonly string[]) {
    super(`Cycle detected in DAG '${dagName}': ${cycle.join(" -> ")}`, {
      code: "dag_cycle",
      exitCode: 2,
      hint: "Remove circular dependencies in depends_on",
    });
    this.name = "CycleDetectedError";
    this.dagName = dagName;
    this.cycle = cycle;
  }
}
