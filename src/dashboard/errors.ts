import { OrchestratorError } from "../lib/mod.ts";

/**
 * An error the dashboard answers with an HTTP status and a JSON body
 * `{error: {code, message}}`. Every error of the dashboard extends it.
 */
export class HttpError extends OrchestratorError {
  /** HTTP status of the response. */
  readonly status: number;
  /**
   * @param status HTTP status.
   * @param message Sentence-case message shown to the client.
   * @param options Stable code and optional cause.
   */
  constructor(status: number, message: string, options: { code: string; cause?: unknown }) {
    super(message, { code: options.code, exitCode: status >= 500 ? 4 : 2, cause: options.cause });
    this.name = "HttpError";
    this.status = status;
  }
}

/** Thrown when a run id is not in either log. */
export class RunNotFoundError extends HttpError {
  /** The run id that was asked for. */
  readonly runId: string;
  /** @param runId The unknown run id. */
  constructor(runId: string) {
    super(404, `Cannot find run "${runId}": not in the events or state log`, {
      code: "run_not_found",
    });
    this.name = "RunNotFoundError";
    this.runId = runId;
  }
}

/** Thrown when an action is refused: 403 read-only (no token configured) or 401 bad token. */
export class ActionDeniedError extends HttpError {
  /** @param readOnly True when no token is configured (403), false for a wrong token (401). */
  constructor(readOnly: boolean) {
    super(
      readOnly ? 403 : 401,
      readOnly
        ? "Cannot run actions: the dashboard is read-only (no ORCH_DASHBOARD_TOKEN configured)"
        : "Cannot run actions: missing or wrong bearer token",
      { code: readOnly ? "read_only" : "unauthorized" },
    );
    this.name = "ActionDeniedError";
  }
}
