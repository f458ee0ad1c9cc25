import { OrchestratorError } from "../lib/errors.ts";

/** One problem found in a schedule file. `line` and `column` are 1-based. */
export interface ScheduleIssue {
  /** The schedule file (or the directory, for a problem with the directory itself). */
  file: string;
  line: number;
  column: number;
  /** The schedule's id, when the entry has one. */
  scheduleId?: string;
  /** Dotted path inside the entry, e.g. `cron` or `params.limit`; `""` for the file. */
  path: string;
  message: string;
}

/**
 * Thrown when schedule files are invalid. Lists every problem found, not just the first.
 * Exit code 2: nothing runs.
 */
export class ScheduleValidationError extends OrchestratorError {
  /** Every problem, in file order. */
  readonly issues: ScheduleIssue[];

  /**
   * @param target The file (if all issues are in one) or the directory.
   * @param issues The problems; at least one.
   */
  constructor(target: string, issues: ScheduleIssue[]) {
    const count = `${issues.length} problem${issues.length === 1 ? "" : "s"}`;
    const lines = issues.map(formatScheduleIssue).map((l) => `  ${l}`);
    super([`Cannot load schedules "${target}": ${count}`, ...lines].join("\n"), {
      code: "schedules_invalid",
      exitCode: 2,
    });
    this.name = "ScheduleValidationError";
    this.issues = issues;
  }
}

/**
 * One issue as `file:line:column: schedule "id" key: message`.
 * @param issue The issue.
 * @returns A single line.
 */
export function formatScheduleIssue(issue: ScheduleIssue): string {
  const where = issue.line > 0 ? `${issue.file}:${issue.line}:${issue.column}` : issue.file;
  const who = issue.scheduleId === undefined ? "" : ` schedule "${issue.scheduleId}"`;
  const key = issue.path ? ` ${issue.path}` : "";
  return `${where}:${who}${key}: ${issue.message}`.replace(":: ", ": ");
}
