import { OrchestratorError } from "../lib/errors.ts";

/** `orch retry` was given a run id the state store does not know. Exit code 2. */
export class RunNotFoundError extends OrchestratorError {
  /** The run id asked for. */
  readonly runId: string;
  /** @param runId The run id asked for. */
  constructor(runId: string) {
    super(`Cannot retry run "${runId}": no run_started for it in the state store`, {
      code: "run_not_found",
      exitCode: 2,
      hint: "Run 'orch runs' to list recent runs and their ids",
    });
    this.name = "RunNotFoundError";
    this.runId = runId;
  }
}

/** `orch retry` was given a run that succeeded or is still running. Exit code 2. */
export class RunNotRetryableError extends OrchestratorError {
  /** The run id asked for. */
  readonly runId: string;
  /** Its status (`success`, `running`, ...). */
  readonly status: string;
  /**
   * @param runId The run id.
   * @param status Its status.
   * @param detail Why else it cannot be retried.
   */
  constructor(runId: string, status: string, detail?: string) {
    const why = status === "running" ? "it is still running" : `its status is "${status}"`;
    super(`Cannot retry run "${runId}": ${why}${detail ? `, ${detail}` : ""}`, {
      code: "run_not_retryable",
      exitCode: 2,
      hint: "Only failed, cancelled or interrupted runs can be retried",
    });
    this.name = "RunNotRetryableError";
    this.runId = runId;
    this.status = status;
  }
}
